/**
 * `tfjs-distill predict STUDENT --data SRC`: the student folder's predictions for every row of a data
 * source, as JSONL. The model side is the browser entry point's (loadStudent, Student.predict), so the CLI,
 * Node services and web pages prepare inputs and read outputs one way.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { loadDataSource } from '../data/data-source.js';
import { type Dataset, featureShape, rowCount, rowSize } from '../data/dataset.js';
import { dataSourceOf as namedSource } from '../data/sources/registry.js';
import { labelNamedColumn, readTableFile, readTableHeader } from '../data/table/table-file.js';
import { DEFAULT_TEXT_FIELDS } from '../data/sources/text.js';
import { textRecords } from '../data/text/text-records.js';
import { DistillError, check } from '../errors.js';
import { type BackendChoice, backendCandidates, initBackend } from '../kernels/backend.js';
import { type KernelChoice, kernelChoiceFromEnv } from '../kernels/kernel-choice.js';
import { type Student, type StudentInput, type StudentPrediction, loadStudent } from '../student/index.js';
import { isTableSource } from './inputs.js';

/** The rows of a source as `predict` takes them, with each row's class index when it has a label (else -1). */
export interface PredictRows {
  inputs: StudentInput[];
  labels: Int32Array;
}

/** What `predict` did: the predictions and, over the labelled rows, the accuracy. */
export interface PredictResult {
  predictions: StudentPrediction[];
  labelled: number;
  correct: number;
}

/** The settings `predict` reads (its flags). */
export interface PredictSettings {
  data: string;
  limit?: number | null;
  labelField?: string | null;
  model?: string;
  out?: string;
  backend?: BackendChoice;
  kernels?: KernelChoice;
}

/**
 * Image rows of a data source (its test split, or every row of a file source), checked against the
 * student's image size: pixels 0..255 are what the contract scales.
 */
function imageInputs(student: Student, data: Dataset, source: string): PredictRows {
  const contract = student.contract;
  check(contract.kind === 'image', 'not an image student');
  const [height, width, channels = 1] = featureShape(data);
  check(
    height === contract.height && width === contract.width && channels === contract.channels,
    `data ${source} has ${height}x${width}x${channels} images, but the student takes ${contract.height}x${contract.width}x${contract.channels}; give images of that size (images:DIR resizes them)`,
    ['data'],
  );
  // Float rows of an image source (the bundled digits) are pixels already scaled to [0, 1]: back to 0..255,
  // so that every image goes through the contract's one scaling.
  const pixels = data.x instanceof Uint8Array ? data.x : Uint8Array.from(data.x, (v) => Math.round(v * 255));
  const size = rowSize(data);
  const inputs = Array.from({ length: rowCount(data) }, (_, row) => pixels.subarray(row * size, (row + 1) * size));
  return { inputs, labels: data.y };
}

/** Rows of a file source (csv:FILE, npy:X,Y) in file order; others give their test split. */
async function datasetRows(source: string, student: Student): Promise<Dataset> {
  const contract = student.contract;
  const imageSize = contract.kind === 'image' ? ([contract.height, contract.width] as [number, number]) : undefined;
  const channels = contract.kind === 'image' ? contract.channels : undefined;
  // A file source read as its own test split comes whole and in order; sources with a split give its test rows.
  const testSource = isTableSource(source) ? source : undefined;
  const splits = await loadDataSource({ source, testSource, testFraction: 0.5, seed: 1, imageSize, channels, workers: 1 });
  return splits.test;
}

/** A text file's rows (text:FILE), read with the fields the student was trained on. */
async function textInputs(student: Student, file: string, labelField: string | null | undefined): Promise<PredictRows> {
  const contract = student.contract;
  check(contract.kind === 'text', 'not a text student');
  const inputs: StudentInput[] = [];
  const labels: number[] = [];
  // A text file's labels are in the field `label` unless labelField names another, as for run.
  const fields = {
    textField: contract.textField,
    textPairField: contract.textPairField,
    labelField: labelField ?? DEFAULT_TEXT_FIELDS.labelField,
  };
  try {
    for await (const records of textRecords(file, fields)) {
      for (const record of records) {
        inputs.push(record.pair === undefined ? record.text : { text: record.text, pair: record.pair });
        labels.push(classIndex(student, record.label, `${file} line ${record.line}`));
      }
    }
  } catch (error) {
    // The text fields are the student's (preprocessing.json), not settings of predict: say so.
    if (!(error instanceof DistillError)) throw error;
    const field = (['textField', 'textPairField'] as const).find((key) => error.options.includes(key));
    if (!field) throw error;
    const first = error.message.split(';')[0];
    throw new DistillError(
      `${first}; the student reads its ${field === 'textField' ? 'texts' : 'second texts'} from '${fields[field]}' (${field} in preprocessing.json): give rows with that field`,
      ['data'],
    );
  }
  return { inputs, labels: Int32Array.from(labels) };
}

/**
 * A table's rows (csv:FILE with a header row) as the student's columns (preprocessing.json) by name, raw:
 * Student.predict standardises them with the folder's means and deviations, never the file's. The label
 * column is labelField, else one named label, target or class; without either the rows are unlabeled.
 */
async function tableInputs(student: Student, file: string, labelField: string | null | undefined): Promise<PredictRows> {
  const contract = student.contract;
  check(contract.kind === 'table', 'not a table student');
  const header = await readTableHeader(file);
  check(
    header !== undefined,
    `${file} has no header row, but the student takes the columns ${contract.columns.join(', ')} by name (preprocessing.json); add a header naming them`,
    ['data'],
  );
  for (const column of contract.columns) {
    check(
      header.includes(column),
      `${file} has no column '${column}', which the student takes (preprocessing.json columns: ${contract.columns.join(', ')}); give a file with every one of them`,
      ['data'],
    );
  }
  const labelColumn = labelField ?? labelNamedColumn(header) ?? null;
  const table = await readTableFile(file, { labelField: labelColumn, features: contract.columns });
  const width = contract.columns.length;
  const inputs = Array.from({ length: table.rows }, (_, row) => {
    const cells: Record<string, number | null> = {};
    contract.columns.forEach((column, i) => {
      const value = table.x[row * width + i];
      cells[column] = Number.isNaN(value) ? null : value;
    });
    return cells;
  });
  const indexOf = table.labels.map(({ value, line }) => classIndex(student, String(value), `${file} line ${line}`));
  return { inputs, labels: Int32Array.from(table.labelCodes, (code) => (code < 0 ? -1 : indexOf[code])) };
}

/** A label as written (class name or index) as the student's class index; -1 for none. */
function classIndex(student: Student, label: string | number | undefined, where: string): number {
  if (label === undefined) return -1;
  const index = typeof label === 'number' ? label : student.classes.indexOf(label);
  check(
    index >= 0 && index < student.classes.length,
    `${where}: label ${JSON.stringify(label)} is not one of the student's classes (${student.classes.join(', ')}); fix the label or leave it out`,
    ['data'],
  );
  return index;
}

/** The rows of `source` for this student, checked against its input contract. */
export async function predictRows(student: Student, source: string, labelField?: string | null): Promise<PredictRows> {
  const named = namedSource(source);
  check(named, `data ${source} is not a data source; give one that --data takes (tfjs-distill run --help)`, ['data']);
  const kind = student.contract.kind;
  if (kind === 'text') {
    check(named.entry.kind === 'text', `the student takes texts, but data ${source} is not text:FILE; give text:FILE`, ['data']);
    return textInputs(student, named.argument, labelField);
  }
  if (kind === 'table') {
    check(
      named.entry.kind === 'csv',
      `the student takes table rows by column name, but data ${source} is not csv:FILE; give a CSV or TSV file with a header row`,
      ['data'],
    );
    return tableInputs(student, named.argument, labelField);
  }
  check(named.entry.kind !== 'text', `the student takes ${kind} rows, but data ${source} is text; give the data it was trained on`, [
    'data',
  ]);
  const data = await datasetRows(source, student);
  if (kind === 'image') return imageInputs(student, data, source);
  const width = rowSize(data);
  const inputs = Array.from({ length: rowCount(data) }, (_, row) => Float32Array.from(data.x.subarray(row * width, (row + 1) * width)));
  return { inputs, labels: data.y };
}

/** Predicts every row (all checked before any model work) and counts the labelled rows it got right. */
export function predictAll(student: Student, rows: PredictRows): PredictResult {
  const predictions = student.predict(rows.inputs);
  let labelled = 0;
  let correct = 0;
  rows.labels.forEach((label, row) => {
    if (label < 0) return;
    labelled++;
    if (predictions[row].index === label) correct++;
  });
  return { predictions, labelled, correct };
}

/** One JSONL line a prediction. */
export function predictionLines(predictions: readonly StudentPrediction[]): string {
  return predictions
    .map(({ label, probabilities }, row) => `${JSON.stringify({ row, label, probabilities: Array.from(probabilities) })}\n`)
    .join('');
}

/** `tfjs-distill predict STUDENT --data SRC [--model VARIANT] [--out FILE]`. */
export async function predictCommand(settings: PredictSettings, positionals: string[]): Promise<void> {
  check(positionals.length === 1, 'predict needs one student folder (or model.json): tfjs-distill predict runs/x/student --data SRC');
  check(typeof settings.data === 'string', 'predict needs the rows: give --data SRC', ['data']);
  // One process on all cores: the openblas kernels (wasm backend) or tfjs-node run their own threads.
  const kernels = settings.kernels ?? kernelChoiceFromEnv() ?? 'auto';
  await initBackend(backendCandidates(settings.backend ?? 'auto'), kernels, availableParallelism());
  const path = resolve(positionals[0]);
  const student = await loadStudent(path, { model: settings.model });
  const rows = await predictRows(student, settings.data, settings.labelField);
  const limit = settings.limit ?? rows.inputs.length;
  const kept = { inputs: rows.inputs.slice(0, limit), labels: rows.labels.subarray(0, limit) };
  const result = predictAll(student, kept);
  const lines = predictionLines(result.predictions);
  const summary =
    result.labelled === 0
      ? `${result.predictions.length} rows predicted (none labelled)`
      : `accuracy ${((100 * result.correct) / result.labelled).toFixed(2)}% (${result.correct} of ${result.labelled} labelled rows)`;
  if (settings.out === undefined) {
    process.stdout.write(lines);
    process.stderr.write(`${summary}\n`);
    return;
  }
  const out = resolve(settings.out);
  await writeFileAtomic(out, async (file) => {
    await file.writeFile(lines);
  });
  process.stdout.write(`wrote ${result.predictions.length} predictions to ${settings.out}; ${summary}\n`);
}
