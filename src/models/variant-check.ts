// The reader's side of a quantised variant: it is loaded exactly as a web app or a Node service would load
// it, with stock `tf.loadLayersModel(tf.io.fromMemory(...))` decoding and dequantising the weights, and is
// then measured on test rows against the float32 model loaded the same way.
import tf from '../tf.cjs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { type Dataset, featureShape, holdsPixels, rowCount, rowSize } from '../data/dataset.js';
import { check, DistillError, messageOf } from '../errors.js';
import type { ModelData } from './model-data.js';
import type { QuantizationDtype } from './quantize.js';
import { readAndDispose } from '../tensor-values.js';

/** A model as stock tfjs takes it: model.json's topology and manifest, and the weight files' bytes in order. */
export interface StockArtifacts {
  topology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weights: ArrayBuffer;
}

/** How a variant did on the test rows, next to the float32 model it was made from. */
export interface VariantMeasurement {
  /** How the variant stores its float32 weights: `float32` when unquantised. */
  format: 'float32' | QuantizationDtype;
  /** The variant's top-1 accuracy on the test rows, in [0, 1], computed by stock tfjs. */
  accuracy: number;
  /** The float32 model's top-1 accuracy on the same rows, likewise. */
  float32Accuracy: number;
  /** Accuracy lost to quantisation, in percentage points (negative when the variant does better). */
  accuracyDrop: number;
  /** Fraction of test rows on which the variant's top-1 class equals the float32 model's. */
  agreement: number;
  /** Bytes of the variant's weights (its weight files). */
  weightBytes: number;
  /** Bytes of the float32 model's weights. */
  float32WeightBytes: number;
  /** weightBytes / float32WeightBytes. */
  weightFraction: number;
}

/**
 * Reads a saved model's files as a static file server would hand them to a browser: model.json, then the
 * weight files its manifest lists, concatenated in order. Nothing is decoded here.
 */
export async function readStockArtifacts(path: string): Promise<StockArtifacts> {
  const file = path.endsWith('.json') ? path : join(path, 'model.json');
  let json: { modelTopology?: object; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new DistillError(`cannot read the model ${file}: ${messageOf(error)}; give the folder of a saved model.json`);
  }
  check(json.modelTopology, `${file} has no modelTopology; give a tfjs layers model`);
  const folder = dirname(resolve(file));
  const parts: Buffer[] = [];
  for (const group of json.weightsManifest ?? []) {
    for (const weightsPath of group.paths) {
      const target = resolve(folder, weightsPath);
      check(
        !isAbsolute(weightsPath) && !relative(folder, target).startsWith('..'),
        `${file} lists the weights file '${weightsPath}' outside its folder; weight paths must stay beside model.json`,
      );
      try {
        parts.push(await readFile(target));
      } catch (error) {
        throw new DistillError(`${file} lists the weights file ${weightsPath}, which cannot be read: ${messageOf(error)}`);
      }
    }
  }
  const bytes = Buffer.concat(parts);
  return {
    topology: json.modelTopology,
    weightSpecs: (json.weightsManifest ?? []).flatMap((group) => group.weights),
    weights: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  };
}

/** Loads a model with stock tfjs alone: `tf.loadLayersModel(tf.io.fromMemory(...))` decodes its weights. */
export async function loadWithStockTfjs(source: StockArtifacts | ModelData, what = 'the model'): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: source.topology, weightSpecs: source.weightSpecs, weightData: source.weights }),
    );
  } catch (error) {
    throw new DistillError(`stock tfjs cannot load ${what}: ${messageOf(error)}`);
  }
}

/** The top-1 class a model predicts for each row; uint8 features are scaled by 1/255, as a run does. */
export function topClasses(model: tf.LayersModel, rows: Dataset, batchSize = 256): Int32Array {
  const count = rowCount(rows);
  const size = rowSize(rows);
  const shape = featureShape(rows);
  const classes = new Int32Array(count);
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const features = Float32Array.from(rows.x.subarray(start * size, end * size));
    if (holdsPixels(rows)) for (let i = 0; i < features.length; i++) features[i] /= 255;
    const batch = readAndDispose<Int32Array>(
      tf.tidy(() => (model.predict(tf.tensor(features, [end - start, ...shape])) as tf.Tensor).argMax(-1)),
    );
    classes.set(batch, start);
  }
  return classes;
}

/** Fraction of positions where two class lists agree. */
function matchFraction(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return a.length === 0 ? 0 : same / a.length;
}

/** The storage format of a model's float32 weights, from its manifest. */
export function variantFormat(weightSpecs: tf.io.WeightsManifestEntry[]): 'float32' | QuantizationDtype {
  const formats = new Set(weightSpecs.filter((spec) => spec.dtype === 'float32').map((spec) => spec.quantization?.dtype ?? 'float32'));
  check(formats.size <= 1, `the model mixes weight formats (${[...formats].join(', ')}); measure one variant at a time`);
  return [...formats][0] ?? 'float32';
}

/** The float32 model loaded with stock tfjs and its top classes on the test rows: measured once, compared with every variant. */
export interface Float32Reference {
  artifacts: StockArtifacts;
  classes: Int32Array;
  accuracy: number;
}

/** The top classes of `artifacts` loaded with stock tfjs, with a one-line error when the test rows do not fit it. */
async function stockTopClasses(artifacts: StockArtifacts, what: string, test: Dataset): Promise<Int32Array> {
  const model = await loadWithStockTfjs(artifacts, what);
  try {
    return topClasses(model, test);
  } catch (error) {
    throw new DistillError(
      `the test rows (shape [${featureShape(test)}]) do not fit the model: ${messageOf(error)}; measure it on rows of its input shape`,
    );
  } finally {
    model.dispose();
  }
}

/**
 * Loads the float32 model (a saved model's folder or model.json, or in-memory artifacts) with stock tfjs and
 * measures it on the labelled test rows, for {@link measureVariant} to compare variants with.
 */
export async function measureFloat32(float32: string | StockArtifacts, test: Dataset): Promise<Float32Reference> {
  check(rowCount(test) > 0, 'there are no test rows to measure the variant on; give a test split with rows');
  check(
    test.y.every((label) => label >= 0),
    'some test rows have no label (-1), so no accuracy can be measured; give labelled test rows',
  );
  const artifacts = typeof float32 === 'string' ? await readStockArtifacts(float32) : float32;
  check(variantFormat(artifacts.weightSpecs) === 'float32', 'the reference model is itself quantised; compare against the float32 model');
  const classes = await stockTopClasses(artifacts, 'the float32 model', test);
  return { artifacts, classes, accuracy: matchFraction(classes, test.y) };
}

/**
 * Loads a variant and its float32 model with stock tfjs (each a saved model's folder or model.json, or
 * in-memory artifacts; the float32 model may be one {@link measureFloat32} already measured on these rows)
 * and measures the variant on the labelled test rows: accuracy, top-1 agreement with the float32 model, and
 * weight bytes against float32's.
 */
export async function measureVariant(
  float32: string | StockArtifacts | Float32Reference,
  variant: string | StockArtifacts,
  test: Dataset,
): Promise<VariantMeasurement> {
  const reference = isReference(float32) ? float32 : await measureFloat32(float32, test);
  const candidate = typeof variant === 'string' ? await readStockArtifacts(variant) : variant;
  const variantClasses = await stockTopClasses(candidate, typeof variant === 'string' ? variant : 'the variant', test);
  const accuracy = matchFraction(variantClasses, test.y);
  const float32Bytes = reference.artifacts.weights.byteLength;
  return {
    format: variantFormat(candidate.weightSpecs),
    accuracy,
    float32Accuracy: reference.accuracy,
    accuracyDrop: (reference.accuracy - accuracy) * 100,
    agreement: matchFraction(variantClasses, reference.classes),
    weightBytes: candidate.weights.byteLength,
    float32WeightBytes: float32Bytes,
    weightFraction: candidate.weights.byteLength / float32Bytes,
  };
}

const isReference = (value: string | StockArtifacts | Float32Reference): value is Float32Reference =>
  typeof value === 'object' && 'classes' in value;
