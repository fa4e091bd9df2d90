import * as tf from '@tensorflow/tfjs';
import type { InputContract } from '../data/input-contract.js';
import { DistillError, check, messageOf } from '../errors.js';
import { type FolderFiles, folderFiles, readJson } from './folder-files.js';
import {
  type ImageInput,
  type StudentInput,
  type TableInput,
  type VectorInput,
  checkInputContract,
  imageRow,
  rowWidth,
  tableRow,
  vectorRow,
} from './input-rows.js';
import { TextRows } from './text-rows.js';
import { readAndDispose } from '../tensor-values.js';

/** The quantised variants a run writes, each in a subfolder of the student folder. */
export type StudentVariant = 'float32' | 'uint8' | 'uint16' | 'float16';

/** Settings of {@link loadStudent}. */
export interface LoadStudentOptions {
  /**
   * Which model of the folder: `float32` (default, `model.json`), a quantised variant (`uint8` reads
   * `uint8/model.json`), or the path of a model.json relative to the folder.
   */
  model?: StudentVariant | string;
  /** Rows run through the model at once by `predict` and `predictRows` (default 256). */
  batchSize?: number;
}

/** One input's answer. */
export interface StudentPrediction {
  /** The class name (classes.json), or the class index as a string when the folder names none. */
  label: string;
  index: number;
  /** One per class, in class order, summing to 1. */
  probabilities: number[];
}

/** Every model a student folder may hold, float32 first. */
export const STUDENT_VARIANTS: readonly StudentVariant[] = ['float32', 'uint8', 'uint16', 'float16'];
const VARIANTS: readonly string[] = STUDENT_VARIANTS.slice(1);
const DEFAULT_BATCH = 256;

/** The model.json a `model` setting names, relative to the folder. */
function modelFileOf(model: string | undefined): string {
  if (model === undefined || model === 'float32') return 'model.json';
  if (VARIANTS.includes(model)) return `${model}/model.json`;
  check(model.endsWith('.json'), `model '${model}' is not float32, ${VARIANTS.join(', ')} or a model.json path in the folder`, ['model']);
  return model;
}

/** A shipped student: its model, class names and input contract. */
export class Student {
  readonly batchSize: number;
  private readonly text: TextRows | undefined;

  /** @internal loadStudent makes students: it reads the folder and opens the tokenizer. */
  constructor(
    readonly model: tf.LayersModel,
    readonly classes: readonly string[],
    readonly contract: InputContract,
    text: TextRows | undefined,
    batchSize = DEFAULT_BATCH,
  ) {
    this.text = text;
    this.batchSize = batchSize;
  }

  /** Values in one prepared row. */
  get rowWidth(): number {
    return rowWidth(this.contract);
  }

  /** The row `prepare` makes of one raw input, as `preprocessing.json` says. */
  prepare(input: StudentInput, row: Float32Array = new Float32Array(this.rowWidth), where = 'input'): Float32Array {
    const { contract } = this;
    if (contract.kind === 'image') imageRow(contract, input as ImageInput, row, where);
    else if (contract.kind === 'table') tableRow(contract, input as TableInput, row, where);
    else if (contract.kind === 'text') this.text!.encode(input as string, row, where);
    else vectorRow(this.rowWidth, input as VectorInput, row, where);
    return row;
  }

  /** Labels and probabilities of raw inputs (pixels, table rows, texts), prepared as `preprocessing.json` says. */
  predict(inputs: readonly StudentInput[]): StudentPrediction[] {
    check(Array.isArray(inputs), 'predict takes an array of inputs; wrap a single one in [ ]', ['inputs']);
    const width = this.rowWidth;
    const rows = new Float32Array(inputs.length * width);
    inputs.forEach((input, i) => this.prepare(input, rows.subarray(i * width, (i + 1) * width), `input ${i}`));
    return this.predictRows(rows, inputs.length);
  }

  /** Labels and probabilities of `count` rows already prepared (row-major, `rowWidth` values each). */
  predictRows(rows: Float32Array, count: number): StudentPrediction[] {
    const width = this.rowWidth;
    check(
      Number.isInteger(count) && count >= 0 && rows.length === count * width,
      `predictRows got ${rows.length} values for ${count} rows of ${width}; give count rows of ${width} values`,
      ['rows'],
    );
    const classCount = this.classes.length;
    const predictions: StudentPrediction[] = [];
    for (let start = 0; start < count; start += this.batchSize) {
      const size = Math.min(this.batchSize, count - start);
      const batch = rows.subarray(start * width, (start + size) * width);
      const probabilities = readAndDispose(
        tf.tidy(() => {
          const output = this.model.predict(tf.tensor(batch, [size, ...this.contract.inputShape])) as tf.Tensor;
          return outputsProbabilities(this.model) ? output : tf.softmax(output);
        }),
      );
      for (let r = 0; r < size; r++) {
        const row = Array.from(probabilities.subarray(r * classCount, (r + 1) * classCount));
        let index = 0;
        for (let c = 1; c < classCount; c++) if (row[c] > row[index]) index = c;
        predictions.push({ label: this.classes[index], index, probabilities: row });
      }
    }
    return predictions;
  }

  /** Frees the model's weights. */
  dispose(): void {
    this.model.dispose();
  }
}

/** Whether the model's last layer ends in a softmax (a run's student does); else its outputs are logits. */
function outputsProbabilities(model: tf.LayersModel): boolean {
  const last = model.layers[model.layers.length - 1];
  return last.getClassName() === 'Softmax' || (last.getConfig() as { activation?: string }).activation === 'softmax';
}

/** Loads model.json and the weight files its manifest lists, with stock tfjs (quantised weights decoded by it). */
async function loadModel(files: FolderFiles, modelFile: string): Promise<tf.LayersModel> {
  const json = (await readJson(files, modelFile)) as {
    modelTopology?: object;
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  check(json.modelTopology, `${files.location}${modelFile} is not a tfjs layers model; give the folder a run wrote`);
  const folder = modelFile.includes('/') ? modelFile.slice(0, modelFile.lastIndexOf('/') + 1) : '';
  const groups = json.weightsManifest ?? [];
  const parts = await Promise.all(groups.flatMap((group) => group.paths.map((path) => files.bytes(folder + path))));
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: groups.flatMap((group) => group.weights),
        weightData: tf.io.concatenateArrayBuffers(parts),
      }),
    );
  } catch (error) {
    throw new DistillError(`${files.location}${modelFile} could not be loaded: ${messageOf(error)}`);
  }
}

/** classes.json of the folder, else of its parent (where runs before the student folder wrote it), else none. */
async function readClasses(files: FolderFiles): Promise<string[] | undefined> {
  for (const name of ['classes.json', '../classes.json']) {
    if (!(await files.exists(name))) continue;
    const classes = await readJson(files, name);
    check(
      Array.isArray(classes) && classes.every((c) => typeof c === 'string'),
      `${files.location}${name} is not a list of class names; copy the one the run wrote`,
    );
    return classes as string[];
  }
  return undefined;
}

/**
 * Loads a student folder a run wrote (OUT/student/): its model (or a variant, `options.model`), class names
 * and input contract. `urlOrDir` is a URL of the folder (or of its model.json) or, in Node, a path.
 */
export async function loadStudent(urlOrDir: string, options: LoadStudentOptions = {}): Promise<Student> {
  // A model.json names its folder, or the student folder above it when it is a variant's (uint8/model.json).
  const parts = urlOrDir.split('/');
  const depth = /\.json$/.test(urlOrDir) ? (VARIANTS.includes(parts[parts.length - 2]) ? 2 : 1) : 0;
  const givenModel = depth === 0 ? undefined : parts.slice(-depth).join('/');
  const folder = depth === 0 ? urlOrDir : parts.slice(0, -depth).join('/') || '.';
  const files = folderFiles(folder);
  check(
    await files.exists('preprocessing.json'),
    `${files.location} has no preprocessing.json, so its inputs cannot be prepared; give the student/ folder of a run that wrote one (or run again)`,
  );
  const contract = checkInputContract(await readJson(files, 'preprocessing.json'), `${files.location}preprocessing.json`);
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  check(Number.isInteger(batchSize) && batchSize >= 1, `batchSize must be a positive integer, got ${batchSize}`, ['batchSize']);
  const text = contract.kind === 'text' ? await TextRows.open(contract, files) : undefined;
  const model = await loadModel(files, options.model === undefined && givenModel ? givenModel : modelFileOf(options.model));
  const outputs = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const classes = (await readClasses(files)) ?? Array.from({ length: outputs }, (_, i) => String(i));
  check(
    classes.length === outputs,
    `${files.location}classes.json names ${classes.length} classes but the model has ${outputs} outputs; copy the folder the run wrote whole`,
  );
  return new Student(model, classes, contract, text, batchSize);
}
