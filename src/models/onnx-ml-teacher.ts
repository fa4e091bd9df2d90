import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DistillError, check, messageOf } from '../errors.js';
import type { FeatureArray } from '../data/dataset.js';
import { readOnnxGraph } from './onnx-graph.js';
import { ONNX_ML_DOMAIN, type OnnxMlGraph, type OnnxMlNode, classLabelsOf, readOnnxMlGraph, withoutZipMap } from './onnx-ml-graph.js';
import { type OnnxTeacher, type OnnxTeacherSpec, type OrtModule, type OrtSession, loadOrt } from './onnx-teacher.js';

/**
 * A tree ensemble's probabilities are often exactly 0 (no training example of a class reached a leaf), which
 * says less than a network's near-zero: floored here, a class the trees never saw keeps a trace of mass once
 * a temperature above 1 flattens the distribution.
 */
export const TREE_PROBABILITY_FLOOR = 1e-6;

/** How far a row's probabilities may sum from 1 (float32 sums over a few hundred trees). */
const SUM_TOLERANCE = 1e-3;
/** Rows of the data checked to sum to 1 when the teacher is opened. */
const CHECKED_ROWS = 64;

/** An ONNX-ML classifier opened and checked against the data. */
export interface OnnxMlTeacher extends OnnxTeacher {
  /** The class labels the graph declares, as text, in the order of its probabilities: class i is classes[i]. */
  classes: string[];
  /** The operator that classifies (`TreeEnsembleClassifier`), for the report. */
  estimator: string;
  /** The ZipMap output the probabilities were read in front of, when the graph had one. */
  zipMapOutput?: string;
}

/** What {@link openOnnxMlTeacher} checks the graph against. */
export interface OnnxMlTeacherOptions {
  /** The data's rows: [features]. */
  featureShape: number[];
  numClasses: number;
  /** The output to read (a ZipMap output names the probabilities it wraps); default the probabilities. */
  output?: string;
  /** Some data rows, to check that the output sums to 1. */
  sample?: { x: FeatureArray; rows: number };
}

const CLASSIFIERS = new Set(['TreeEnsembleClassifier', 'LinearClassifier', 'SVMClassifier']);
const REGRESSORS = new Set(['TreeEnsembleRegressor', 'LinearRegressor', 'SVMRegressor']);

/**
 * Whether bytes are an ONNX model with an ai.onnx.ml estimator (a classifier, a regressor, to refuse it clearly)
 * or ZipMap; false for bytes that are not ONNX. A network that only uses ONNX-ML preprocessing (Scaler,
 * Imputer) stays an ordinary ONNX teacher, whose output may be logits.
 */
export function isOnnxMlEstimator(bytes: Uint8Array): boolean {
  try {
    const graph = readOnnxMlGraph(bytes);
    const estimators = new Set([...CLASSIFIERS, ...REGRESSORS, 'ZipMap']);
    return graph.usesOnnxMl && graph.nodes.some((node) => node.domain === ONNX_ML_DOMAIN && estimators.has(node.opType));
  } catch {
    return false;
  }
}

async function readModel(file: string): Promise<{ bytes: Buffer; graph: OnnxMlGraph }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new DistillError(`cannot read the ONNX teacher ${file}: ${messageOf(error)}`, ['teacher']);
  }
  try {
    return { bytes, graph: readOnnxMlGraph(bytes) };
  } catch (error) {
    throw new DistillError(`${file} is not a readable ONNX model (${messageOf(error)}); export the teacher again`, ['teacher']);
  }
}

/** The class labels of an ONNX-ML classifier file, in the order of its probabilities. */
export async function readOnnxMlClasses(path: string): Promise<string[]> {
  const file = resolve(path);
  const { graph } = await readModel(file);
  const classes = graph.nodes.map(classLabelsOf).find((labels) => labels !== undefined);
  check(classes !== undefined, `the ONNX teacher ${file} declares no class labels; export it with its classifier's classes`, ['teacher']);
  return classes;
}

/**
 * The data's label strings as indices into the teacher's classes; an empty label is unlabeled (-1). A label the
 * teacher does not know is an error naming it and the row.
 */
export function labelsOntoTeacherClasses(labels: readonly string[], classes: readonly string[]): Int32Array {
  const index = new Map(classes.map((name, i) => [name, i]));
  return Int32Array.from(labels, (label, row) => {
    if (label === '') return -1;
    const found = index.get(label);
    check(
      found !== undefined,
      () =>
        `row ${row + 1} has label '${label}', which is not among the teacher's classes (${classes.join(', ')}); ` +
        'relabel the row, or give a teacher trained on that class',
      ['teacher'],
    );
    return found!;
  });
}

/** The operators onnxruntime said it has no implementation of, by the graph's own operator names. */
function missingOperators(graph: OnnxMlGraph, message: string): string[] {
  const named = [...message.matchAll(/(?:No Op registered for|Could not find an implementation for) (\w+)/g)].map((m) => m[1]);
  const known = new Map(graph.nodes.map((node) => [node.opType, `${node.opType} (${node.domain || 'ai.onnx'})`]));
  return [...new Set(named)].map((op) => known.get(op) ?? op);
}

async function openSession(ort: OrtModule, file: string, model: Uint8Array, graph: OnnxMlGraph): Promise<OrtSession> {
  try {
    return await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (error) {
    const missing = missingOperators(graph, messageOf(error));
    if (missing.length > 0) {
      throw new DistillError(
        `onnxruntime-node cannot run the teacher ${file}: it implements no ${missing.join(', ')}; ` +
          'export the model with operators onnxruntime implements (https://onnxruntime.ai/docs/reference/operators)',
        ['teacher'],
      );
    }
    throw new DistillError(`${file} is not a model onnxruntime-node can run (${messageOf(error)}); export the teacher again`, ['teacher']);
  }
}

/**
 * Opens an ONNX-ML classifier (a tree ensemble from skl2onnx, onnxmltools...) for labelling: takes ZipMap out
 * in memory, picks the probabilities output, reads the classes, and checks the input and the probabilities
 * against the data. Each problem is one DistillError naming the file and the fix.
 */
export async function openOnnxMlTeacher(path: string, options: OnnxMlTeacherOptions): Promise<OnnxMlTeacher> {
  const file = resolve(path);
  const { bytes, graph } = await readModel(file);
  const regressor = graph.nodes.find((node) => REGRESSORS.has(node.opType));
  check(
    regressor === undefined,
    `the teacher ${file} is a ${regressor?.opType}: tfjs-distill distils classifiers, and regression teachers are not supported yet; ` +
      'give a classifier (TreeEnsembleClassifier) exported with its probabilities',
    ['teacher'],
  );
  let unzipped: ReturnType<typeof withoutZipMap>;
  try {
    unzipped = withoutZipMap(bytes, graph);
  } catch (error) {
    throw new DistillError(`cannot take ZipMap out of the teacher ${file} (${messageOf(error)}); export it without ZipMap`, ['teacher']);
  }
  const ort = await loadOrt();
  const session = await openSession(ort, file, unzipped.model, graph);
  try {
    const input = checkInput(file, session, options.featureShape);
    const outputName = chooseOutput(file, session, graph, unzipped.unzipped, options.output);
    const zipMapOutput = [...unzipped.unzipped].find(([, tensor]) => tensor === outputName)?.[0];
    const classifier = graph.nodes.find((node) => node.domain === ONNX_ML_DOMAIN && CLASSIFIERS.has(node.opType));
    const estimator = classifier?.opType ?? graph.nodes.find((node) => node.outputs.includes(outputName))?.opType ?? 'unknown';
    const classes = classesOf(file, graph, outputName, options.numClasses);
    const model = new SharedArrayBuffer(unzipped.model.byteLength);
    new Uint8Array(model).set(unzipped.model);
    const spec: OnnxTeacherSpec = {
      kind: 'onnx',
      id: randomUUID(),
      file,
      model,
      inputName: input.name,
      outputName,
      inputShape: [input.features],
      toChannelsFirst: false,
      outputKind: 'softmax',
      numClasses: options.numClasses,
      inputType: input.type,
      probabilityFloor: TREE_PROBABILITY_FLOOR,
    };
    if (options.sample) await checkSumsToOne(ort, file, session, spec, options.sample);
    const nodeCount = graph.nodes.reduce((sum, node) => sum + (node.ints.get('nodes_nodeids')?.length ?? 0), 0);
    return {
      spec,
      digest: createHash('sha256').update(bytes).digest('hex').slice(0, 16),
      params: nodeCount + readOnnxGraph(bytes).params,
      bytes: bytes.byteLength,
      notices: [
        outputNotice(outputName, estimator, zipMapOutput),
        `the teacher's classes, in the order of its probabilities: ${classes.join(', ')}`,
      ],
      classes,
      estimator,
      zipMapOutput,
    };
  } finally {
    await session.release();
  }
}

function outputNotice(name: string, estimator: string, zipMapOutput: string | undefined): string {
  const where = zipMapOutput
    ? `'${name}', the probabilities its ZipMap '${zipMapOutput}' wraps (onnxruntime-node cannot return ZipMap's maps, so the graph is read in front of it)`
    : `'${name}'`;
  return (
    `the teacher is an ONNX-ML ${estimator}; its output ${where} holds probabilities, whose logarithms (floored at ` +
    `${TREE_PROBABILITY_FLOOR.toExponential()}) serve as its logits: softmax gives the probabilities back`
  );
}

function checkInput(file: string, session: OrtSession, featureShape: number[]) {
  check(
    session.inputNames.length === 1,
    `the teacher ${file} has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); ` +
      'tfjs-distill feeds one [rows, features] input: export the model with a single input of all its features',
    ['teacher'],
  );
  const meta = session.inputMetadata?.[0];
  const shape = [...(meta?.shape ?? [])];
  const type = meta?.type;
  check(
    type === 'float32' || type === 'float64',
    `the teacher ${file} takes ${type} input; tfjs-distill feeds float or double [rows, features]: export it with a float input`,
    ['teacher'],
  );
  const declared = shape[1];
  check(
    shape.length === 2 && typeof declared === 'number',
    `the teacher ${file} takes input of shape [${shape}]; tfjs-distill feeds [rows, features]: export it with a fixed number of features`,
    ['teacher'],
  );
  const features = featureShape.reduce((a, b) => a * b, 1);
  check(
    featureShape.length === 1 && features === declared,
    `the teacher ${file} takes ${declared} features per row, but the data's rows have ${featureShape.length === 1 ? features : `shape [${featureShape}]`}; ` +
      `give rows of the ${declared} features the teacher was trained on, in its order`,
    ['teacher'],
  );
  return { name: session.inputNames[0], type: type as 'float32' | 'float64', features: declared as number };
}

/** The output read as probabilities: the one float [batch, classes] tensor, the classifier's own, or the one named. */
function chooseOutput(
  file: string,
  session: OrtSession,
  graph: OnnxMlGraph,
  unzipped: Map<string, string>,
  wanted: string | undefined,
): string {
  const metadata = session.outputMetadata ?? [];
  const candidates = metadata.filter((o) => o.isTensor && o.type === 'float32' && o.shape?.length === 2).map((o) => o.name);
  const outputs = graph.outputs.map((name) => (unzipped.has(name) ? `${name} (ZipMap)` : name));
  if (wanted !== undefined) {
    const name = unzipped.get(wanted) ?? wanted;
    check(
      candidates.includes(name),
      session.outputNames.includes(name) || graph.outputs.includes(name)
        ? `the teacher ${file}'s output '${wanted}' is not a float [batch, classes] tensor of probabilities; pick one of ${candidates.join(', ')} with teacherOutput`
        : `the teacher ${file} has no output '${wanted}'; its outputs are ${outputs.join(', ')} (teacherOutput)`,
      ['teacherOutput'],
    );
    return name;
  }
  const ownOutputs = new Set([
    ...unzipped.values(),
    ...graph.nodes.filter((node) => node.domain === ONNX_ML_DOMAIN && CLASSIFIERS.has(node.opType)).map((node) => node.outputs[1]),
  ]);
  const preferred = candidates.length > 1 ? candidates.filter((name) => ownOutputs.has(name)) : candidates;
  check(
    candidates.length > 0,
    `the teacher ${file} has no float [batch, classes] output of probabilities (its outputs: ${outputs.join(', ')}); export the classifier with its probabilities`,
    ['teacher'],
  );
  check(
    preferred.length === 1,
    `the teacher ${file} has ${candidates.length} outputs that could hold the class probabilities (${candidates.join(', ')}); name one with teacherOutput`,
    ['teacherOutput'],
  );
  return preferred[0];
}

/** The class labels of the classifier (or ZipMap) behind `output`, checked against the data's class count. */
function classesOf(file: string, graph: OnnxMlGraph, output: string, numClasses: number): string[] {
  const producer = (name: string): OnnxMlNode | undefined => graph.nodes.find((node) => node.outputs.includes(name));
  const own = producer(output);
  const zipMap = graph.nodes.find((node) => node.opType === 'ZipMap' && node.inputs[0] === output);
  const labels =
    (own && classLabelsOf(own)) ??
    (zipMap && classLabelsOf(zipMap)) ??
    graph.nodes.map(classLabelsOf).find((found) => found !== undefined) ??
    Array.from({ length: numClasses }, (_, i) => String(i));
  check(
    labels.length === numClasses,
    `the teacher ${file} has ${labels.length} classes (${labels.join(', ')}), but the data has ${numClasses}; ` +
      "give data labelled with the teacher's classes, as indices in that order",
    ['teacher'],
  );
  return labels;
}

async function checkSumsToOne(
  ort: OrtModule,
  file: string,
  session: OrtSession,
  spec: OnnxTeacherSpec,
  sample: { x: FeatureArray; rows: number },
): Promise<void> {
  const rows = Math.min(sample.rows, CHECKED_ROWS);
  const values = Float32Array.from(sample.x.subarray(0, rows * spec.inputShape[0]));
  const dims = [rows, ...spec.inputShape];
  const input =
    spec.inputType === 'float64' ? new ort.Tensor('float64', Float64Array.from(values), dims) : new ort.Tensor('float32', values, dims);
  const output = (await session.run({ [spec.inputName]: input }, [spec.outputName]))[spec.outputName];
  const probabilities = output.data as Float32Array;
  check(
    probabilities.length === rows * spec.numClasses,
    `the teacher ${file}'s output '${spec.outputName}' gave shape [${output.dims}] for ${rows} rows, not [${rows}, ${spec.numClasses}]; pick the probabilities with teacherOutput`,
    ['teacherOutput'],
  );
  for (let row = 0; row < rows; row++) {
    let sum = 0;
    let negative = false;
    for (let c = 0; c < spec.numClasses; c++) {
      const p = probabilities[row * spec.numClasses + c];
      sum += p;
      negative ||= p < 0;
    }
    check(
      !negative && Math.abs(sum - 1) <= SUM_TOLERANCE,
      `the teacher ${file}'s output '${spec.outputName}' does not hold probabilities: on row ${row + 1} it sums to ${sum.toPrecision(4)}` +
        `${negative ? ' with negative values' : ''}, not 1; pick the probabilities with teacherOutput, or export the classifier so that they sum to 1 ` +
        '(post_transform SOFTMAX for boosted trees, leaf weights divided by the number of trees for a forest)',
      ['teacherOutput'],
    );
  }
}
