import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ClassCountMismatch, DistillError, check, messageOf } from '../errors.js';
import type { TokenRowsInfo } from '../data/text/token-rows.js';
import { type OnnxGraphFacts, readOnnxGraph } from './onnx-graph.js';
import {
  type OnnxTextFeed,
  TEXT_BUCKET_ROWS,
  checkPositions,
  checkTokenIds,
  embeddingRows,
  positionRows,
  textInputs,
} from './onnx-text-teacher.js';

/** How an image model's input is laid out: channels first (PyTorch) or last (TensorFlow, our rows). */
export type InputLayout = 'nchw' | 'nhwc';

/** Per-channel normalisation of the teacher's input only: (x - mean) / std, after uint8 pixels are scaled. */
export interface TeacherNormalize {
  mean: number[];
  std: number[];
}

/** What a worker needs to run an ONNX teacher: the file and how to feed it and read it. */
export interface OnnxTeacherSpec {
  kind: 'onnx';
  /** Unique per run; workers cache their session under it. */
  id: string;
  /** The file, or for a graph exported in this run (teacherRuntime) a description of it. */
  file: string;
  /** The model's bytes when it was exported in this run rather than read from `file`. */
  model?: SharedArrayBuffer;
  inputName: string;
  outputName: string;
  /** The model's input shape per row, in its own layout (what each batch is reshaped to). */
  inputShape: number[];
  /** Rows are NHWC: transpose each batch to NCHW before running. */
  toChannelsFirst: boolean;
  /** The output holds probabilities (`softmax`) or log-probabilities (`log-softmax`), not logits. */
  outputKind: 'logits' | 'softmax' | 'log-softmax';
  numClasses: number;
  /** The input's element type; default float32 (an ONNX-ML graph may declare double). */
  inputType?: 'float32' | 'float64';
  /** For `softmax` output: probabilities below it become it before the logarithm; default 1e-30. */
  probabilityFloor?: number;
  /** A text classifier: its inputs are filled from token-id rows (inputName is then its input_ids). */
  text?: OnnxTextFeed;
}

/** An ONNX teacher opened and checked against the data, with what the report needs. */
export interface OnnxTeacher {
  spec: OnnxTeacherSpec;
  /** Hash of the file's bytes: the teacher's identity in soft-label keys and checkpoints. */
  digest: string;
  params: number;
  bytes: number;
  notices: string[];
}

/** What {@link openOnnxTeacher} checks the model against, and how to read it. */
export interface OnnxTeacherOptions {
  featureShape: number[];
  numClasses: number;
  /** Overrides the layout read from the input shape. */
  layout?: InputLayout;
  /** The output to read; default the first (for text, `logits` when there is one). */
  output?: string;
  /** Token-id rows: the teacher is a text classifier fed them (see {@link OnnxTextOptions}). */
  text?: OnnxTextOptions;
}

/** What an ONNX text classifier is checked against: the rows, and the positions its folder's config.json gives. */
export interface OnnxTextOptions {
  rows: TokenRowsInfo;
  /** The training rows, whose ids must lie within the teacher's embedding. */
  features: ArrayLike<number>;
  /** The positions the teacher takes and where that was read; default: the graph's position embedding, if any. */
  positions?: { count: number; where: string };
  /** Rows per length bucket, or null for none (default {@link TEXT_BUCKET_ROWS}). */
  bucketRows?: number | null;
}

// The package name in a variable keeps TypeScript from resolving an optional dependency.
const ORT = 'onnxruntime-node';

/** Minimal view of onnxruntime-node's API, so that its types are not needed to build. */
export interface OrtModule {
  InferenceSession: {
    create(pathOrBytes: string | Uint8Array, options?: object): Promise<OrtSession>;
  };
  Tensor: new (
    type: 'float32' | 'float64' | 'int64' | 'int32',
    data: Float32Array | Float64Array | BigInt64Array | Int32Array,
    dims: number[],
  ) => unknown;
}
/** An input or output as a session describes it; `type` is the element type of a tensor (`float32`, `string`). */
export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}
export interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata?: readonly OrtValueMetadata[];
  outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/** The output to read, checked to hold one score per class. */
function checkedOutput(file: string, session: OrtSession, options: OnnxTeacherOptions): string {
  const { numClasses } = options;
  const name = outputName(file, session, options.output, options.text !== undefined);
  const outputShape = session.outputMetadata?.find((o) => o.name === name)?.shape ?? [];
  const classes = outputShape[outputShape.length - 1];
  if (outputShape.length !== 2 || !fits(classes, numClasses)) {
    throw new ClassCountMismatch(
      `the ONNX teacher ${file}'s output '${name}' has shape [${outputShape}], but the data has ${numClasses} classes; ` +
        `give a teacher whose output is [batch, ${numClasses}] (or pick another output with teacherOutput)`,
      typeof classes === 'number' ? classes : Number.NaN,
      ['teacherOutput'],
    );
  }
  return name;
}

/**
 * A text classifier's interface, checked against token-id rows: its inputs by name, the output, the
 * rows' width against its positions and their ids against its embedding.
 */
function describeTextSession(
  file: string,
  session: OrtSession,
  graph: OnnxGraphFacts,
  options: OnnxTeacherOptions,
  text: OnnxTextOptions,
): OnnxTeacherSpec {
  const inputs = textInputs(file, session.inputNames, session.inputMetadata);
  const name = checkedOutput(file, session, options);
  const positions = text.positions ?? { count: positionRows(graph), where: 'its position embedding' };
  checkPositions(file, text.rows, positions.count, positions.where);
  checkTokenIds(file, text.features, text.rows, embeddingRows(graph, inputs.ids.name));
  check(
    !text.rows.pairs || text.rows.template.some((piece) => piece.kind === 'special'),
    `${text.rows.tokenizer} puts no special tokens between a pair's texts, so their segment ids cannot be told apart; ` +
      'give the tokenizer the teacher was trained with',
    ['tokenizer'],
  );
  return {
    kind: 'onnx',
    id: randomUUID(),
    file,
    inputName: inputs.ids.name,
    outputName: name,
    inputShape: [text.rows.maxLength],
    toChannelsFirst: false,
    outputKind: outputKindOf(graph.producers, name),
    numClasses: options.numClasses,
    text: { ...inputs, rows: text.rows, bucketRows: text.bucketRows === undefined ? TEXT_BUCKET_ROWS : text.bucketRows },
  };
}

/** Loads onnxruntime-node, or says how to install it. */
export async function loadOrt(): Promise<OrtModule> {
  try {
    const module = (await import(ORT)) as OrtModule & { default?: OrtModule };
    return module.InferenceSession ? module : module.default!;
  } catch (error) {
    throw new DistillError(
      `ONNX teachers run on onnxruntime-node, which could not be loaded (${messageOf(error)}); ` +
        'install it with ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node (its CPU build ships in the package)',
    );
  }
}

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const fits = (dim: number | string, size: number) => typeof dim === 'string' || dim === size;

/**
 * Opens an ONNX teacher on this thread to read and check its interface: one input whose shape fits the
 * data's rows (flat, NCHW or NHWC), an output with one score per class, and whether that output is
 * probabilities. A problem is one DistillError naming the file and what to change.
 */
export async function openOnnxTeacher(path: string, options: OnnxTeacherOptions): Promise<OnnxTeacher> {
  const file = resolve(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new DistillError(`cannot read the ONNX teacher ${file}: ${messageOf(error)}`, ['teacher']);
  }
  const ort = await loadOrt();
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (error) {
    throw new DistillError(`${file} is not a readable ONNX model (${messageOf(error)}); export the teacher again`, ['teacher']);
  }
  try {
    let graph: ReturnType<typeof readOnnxGraph>;
    try {
      graph = readOnnxGraph(bytes);
    } catch (error) {
      throw new DistillError(`${file} is not a readable ONNX model (${messageOf(error)}); export the teacher again`, ['teacher']);
    }
    const spec = options.text
      ? describeTextSession(file, session, graph, options, options.text)
      : describeSession(file, session, graph.producers, options);
    const hash = createHash('sha256').update(bytes);
    // How text rows are fed (the pad id swapped back, the segments, the buckets) is part of what the logits depend on.
    if (spec.text)
      hash.update(
        JSON.stringify({
          ...spec.text,
          ids: undefined,
          mask: undefined,
          segments: undefined,
          rows: { ...spec.text.rows, tokenizer: undefined },
        }),
      );
    return {
      spec,
      digest: hash.digest('hex').slice(0, 16),
      params: graph.params,
      bytes: bytes.byteLength,
      notices: noticesFor(file, session, graph.producers, options),
    };
  } finally {
    await session.release();
  }
}

function outputName(file: string, session: OrtSession, wanted: string | undefined, text?: boolean): string {
  const name = wanted ?? (text && session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]);
  check(
    session.outputNames.includes(name),
    `the ONNX teacher ${file} has no output '${name}'; its outputs are ${session.outputNames.join(', ')} (teacherOutput)`,
    ['teacherOutput'],
  );
  return name;
}

function outputKindOf(producers: Map<string, string>, name: string): OnnxTeacherSpec['outputKind'] {
  const op = producers.get(name);
  return op === 'Softmax' ? 'softmax' : op === 'LogSoftmax' ? 'log-softmax' : 'logits';
}

function noticesFor(file: string, session: OrtSession, producers: Map<string, string>, options: OnnxTeacherOptions): string[] {
  const name = outputName(file, session, options.output, options.text !== undefined);
  const kind = outputKindOf(producers, name);
  if (kind === 'logits') return [];
  const what =
    kind === 'softmax' ? 'probabilities (it ends in Softmax); their logarithms' : 'log-probabilities (it ends in LogSoftmax), which';
  return [`the teacher's output '${name}' holds ${what} serve as its logits: softmax(z / T) is the same for any shift of z`];
}

function describeSession(file: string, session: OrtSession, producers: Map<string, string>, options: OnnxTeacherOptions): OnnxTeacherSpec {
  const { featureShape, numClasses } = options;
  check(
    session.inputNames.length === 1,
    `the ONNX teacher ${file} has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); ` +
      'tfjs-distill feeds one input of rows: export a model with a single input',
    ['teacher'],
  );
  const inputName = session.inputNames[0];
  const shape = [...(session.inputMetadata?.[0]?.shape ?? [])];
  check(
    shape.length >= 2,
    `the ONNX teacher ${file} has an input of unknown rank (shape [${shape}]); export it with a fixed rank, e.g. [batch, C, H, W]`,
    ['teacher'],
  );
  const rowShape = shape.slice(1);
  const channels = featureShape.length === 3 ? featureShape[2] : 1;
  const [height, width] = featureShape;
  const image = featureShape.length === 2 || featureShape.length === 3;
  const describe = () => `the ONNX teacher ${file} takes input [${shape}], which does not fit rows of shape [${featureShape}]`;
  let layout: InputLayout | 'flat';
  if (options.layout) {
    check(image && rowShape.length === 3, `${describe()}: teacherLayout applies to image rows and a rank-4 input`, ['teacherLayout']);
    layout = options.layout;
  } else if (rowShape.length === 3 && image && fits(rowShape[0], channels) && fits(rowShape[1], height) && fits(rowShape[2], width)) {
    layout = 'nchw';
  } else if (rowShape.length === 3 && image && fits(rowShape[0], height) && fits(rowShape[1], width) && fits(rowShape[2], channels)) {
    layout = 'nhwc';
  } else if (rowShape.length === featureShape.length && rowShape.every((d, i) => fits(d, featureShape[i]))) {
    layout = 'flat';
  } else if (rowShape.length === 1 && fits(rowShape[0], product(featureShape))) {
    layout = 'flat';
  } else {
    throw new DistillError(`${describe()}; give data of the model's input shape, or set teacherLayout nchw|nhwc`, ['teacherLayout']);
  }
  const inputShape =
    layout === 'nchw'
      ? [channels, height, width]
      : layout === 'nhwc'
        ? [height, width, channels]
        : rowShape.length === 1
          ? [product(featureShape)]
          : featureShape;
  const name = checkedOutput(file, session, options);
  return {
    kind: 'onnx',
    id: randomUUID(),
    file,
    inputName,
    outputName: name,
    inputShape,
    toChannelsFirst: layout === 'nchw' && channels > 1,
    outputKind: outputKindOf(producers, name),
    numClasses,
  };
}
