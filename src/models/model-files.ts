import type * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { DistillError, messageOf } from '../errors.js';
import { type ModelData, modelFromData, modelJson, modelToData } from './model-data.js';

// Bytes per stored element, by dtype or quantization dtype: what the manifest promises weights.bin holds.
const BYTES_PER_ELEMENT: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/**
 * Writes a model in the standard tfjs layout, `dir/model.json` + `dir/weights.bin`, loadable by
 * `tf.loadLayersModel` through any file or memory handler. The files are written to a temporary sibling
 * folder that replaces `dir` only when complete, so a failed save never leaves a half-written model.
 * Returns the bytes written.
 */
export async function saveModel(model: tf.LayersModel | ModelData, dir: string): Promise<number> {
  const data = 'weightSpecs' in model ? model : await modelToData(model);
  const target = resolve(dir);
  const staging = `${target}.partial-${process.pid}`;
  const json = JSON.stringify(modelJson(data, 'weights.bin'));
  try {
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    await writeFile(join(staging, 'model.json'), json);
    await writeFile(join(staging, 'weights.bin'), new Uint8Array(data.weights));
    await rm(target, { recursive: true, force: true });
    await rename(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw new DistillError(`could not write the model to ${dir}: ${messageOf(error)}`);
  }
  return Buffer.byteLength(json) + data.weights.byteLength;
}

/** Loads a model saved as model.json + weight files; `path` is the model.json or its folder. */
export async function loadModel(path: string): Promise<tf.LayersModel> {
  const data = await readModelData(path);
  if (data.format === 'graph-model') {
    throw new DistillError(
      `${resolveModelJson(path)} is a graph model (tfjs-converter output), not a layers model: it can be a teacher (give its path), ` +
        'but not a student',
    );
  }
  return modelFromData(data, resolveModelJson(path));
}

function resolveModelJson(path: string): string {
  return path.endsWith('.json') ? path : join(path, 'model.json');
}

/**
 * Reads and checks a saved model: the JSON parses, it is a layers model, and its weight files hold exactly
 * the bytes its manifest describes.
 */
export async function readModelData(path: string): Promise<ModelData> {
  const file = resolveModelJson(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DistillError(`cannot read model ${file}: ${messageOf(error)}`);
  }
  let json: {
    format?: string;
    modelTopology?: object;
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DistillError(`${file} is not valid JSON (${messageOf(error)}); give the path of a tfjs model.json`);
  }
  if (!json.modelTopology || typeof json.modelTopology !== 'object') {
    throw new DistillError(`${file} is not a tfjs layers model: it has no modelTopology`);
  }
  const manifest = json.weightsManifest ?? [];
  // A manifest names files next to model.json. A path that leaves that folder (../, absolute) could read
  // any file the process can, so it is refused before anything is read.
  const folder = dirname(resolve(file));
  for (const weightsPath of manifest.flatMap((group) => group.paths ?? [])) {
    const target = resolve(folder, weightsPath);
    if (typeof weightsPath !== 'string' || isAbsolute(weightsPath) || relative(folder, target).startsWith('..')) {
      throw new DistillError(
        `${file} lists the weights file '${weightsPath}', which is outside the model's folder; weight paths must stay beside model.json`,
      );
    }
  }
  const weightSpecs = manifest.flatMap((group) => group.weights);
  const expected = weightSpecs.reduce((sum, spec) => sum + specBytes(spec, file), 0);
  const parts: Buffer[] = [];
  for (const weightsPath of manifest.flatMap((group) => group.paths)) {
    const weightsFile = join(dirname(file), weightsPath);
    try {
      parts.push(await readFile(weightsFile));
    } catch (error) {
      throw new DistillError(`${file} lists the weights file ${basename(weightsFile)}, which cannot be read: ${messageOf(error)}`);
    }
  }
  const bytes = Buffer.concat(parts);
  if (bytes.byteLength !== expected) {
    const what = bytes.byteLength < expected ? 'truncated' : 'longer than its manifest says';
    throw new DistillError(
      `the weights of ${file} are ${what}: the manifest needs ${expected} bytes, the files hold ${bytes.byteLength}; re-export the model`,
    );
  }
  const weights = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return { format: json.format, topology: json.modelTopology, weightSpecs, weights };
}

function specBytes(spec: tf.io.WeightsManifestEntry, file: string): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const perElement = BYTES_PER_ELEMENT[dtype];
  if (perElement === undefined) {
    throw new DistillError(`${file}: weight ${spec.name} has dtype ${dtype}, which tfjs-distill cannot read`);
  }
  return spec.shape.reduce((a, b) => a * b, 1) * perElement;
}
