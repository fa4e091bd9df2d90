// The shipped student: one folder a web app or a Node service copies as it is. It holds the float32 model,
// its classes, its input contract (preprocessing.json) and the files that contract names, the quantised
// variants in subfolders, and a model card. Everything is written into a staging folder beside the target
// and renamed into place when complete, so the folder is never seen half-written.
import type * as tf from '@tensorflow/tfjs';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import type { InputContract } from '../data/input-contract.js';
import { datasetContract } from '../data/source-contracts.js';
import type { ContractFile } from '../data/sources/source-entry.js';
import { DistillError, check, messageOf } from '../errors.js';
import { type LatencyMeasurement, type LatencyOptions, measureLatency } from '../models/latency.js';
import { saveModel } from '../models/model-files.js';
import { readStockArtifacts, type StockArtifacts } from '../models/variant-check.js';
import { DEFAULT_MAX_QUANTIZE_DROP } from '../options/groups/data.js';
import type { QuantizeChoice } from '../options/schema.js';
import type { DistillReport, QuantizationReport, StudentFolderReport } from '../reports/report.js';
import { CLASSES_PLACES, STUDENT_FILES } from '../student-layout.js';
import { modelCard } from './model-card.js';
import { type MeasureOnce, measureEveryTime } from './measure-once.js';
import { writeStudentVariants } from './student-variants.js';
import { traced } from '../trace.js';

/**
 * One more artifact of the folder (an ONNX export): called with the staging folder, it writes its files
 * there before the folder is moved into place.
 */
export type StudentArtifactWriter = (folder: string) => Promise<void>;

/** What {@link writeStudentFolder} writes. */
export interface StudentFolderOptions {
  /** The trained student (distill()'s `student`). */
  student: tf.LayersModel;
  /** The run's report (distill()'s `report`): the model card's teacher, data, accuracy and agreement. */
  report: DistillReport;
  /** Labelled test rows: the variants' accuracy and the student's latency are measured on them. */
  test: Dataset;
  /** How a raw example becomes a row (preprocessing.json); default: what the test rows show (uint8 rows: pixels scaled by 1/255). */
  contract?: InputContract;
  /** Files the contract names (a text student's tokenizer files), copied in under their names. */
  contractFiles?: ContractFile[];
  /** Class names in output order; default: the report's, else the class indices as names. */
  classes?: string[];
  /** Quantised variants to write into subfolders (`uint8/`), measured on `test`; default none. */
  quantize?: readonly QuantizeChoice[];
  /** Points of test accuracy past which a variant is warned about (or passed over by `auto`); default 1. */
  maxQuantizeDrop?: number;
  /** The command that made the student, for the model card. */
  command?: string;
  /** The latency measurement's backend and repeats. */
  latency?: LatencyOptions;
  /** Shares the latency measurement between folders of the same architecture (a sweep's trials); default: measured here. */
  measureOnce?: MeasureOnce;
  /** More artifacts, each written into the staging folder in turn (see {@link StudentArtifactWriter}). */
  artifacts?: StudentArtifactWriter[];
}

/** What {@link writeStudentFolder} wrote and measured; the CLI puts both in report.json. */
export interface StudentFolderResult {
  folder: StudentFolderReport;
  /** The variants' measurements, when any were asked for. */
  quantization?: QuantizationReport;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Every file under `dir`, relative to it, with its bytes, in name order. */
async function listFiles(dir: string, under = ''): Promise<{ path: string; bytes: number }[]> {
  const entries = await readdir(join(dir, under), { withFileTypes: true });
  const files = await Promise.all(
    entries.map(async (entry) => {
      const path = under === '' ? entry.name : `${under}/${entry.name}`;
      return entry.isDirectory() ? listFiles(dir, path) : [{ path, bytes: (await stat(join(dir, path))).size }];
    }),
  );
  return files.flat().sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The class names to write: given, the report's, or `"0"`, `"1"`, ... when the data named none. */
function classNames(options: StudentFolderOptions): string[] {
  const classes =
    options.classes ?? options.report.data.classes ?? Array.from({ length: options.report.data.numClasses }, (_, i) => `${i}`);
  check(
    classes.length === options.report.data.numClasses,
    `classes names ${classes.length} classes but the student has ${options.report.data.numClasses} outputs; give one name per output`,
    ['classes'],
  );
  return classes;
}

/** Writes the input contract and copies in the files it names. */
async function writeContract(stage: string, contract: InputContract, files: readonly ContractFile[]): Promise<void> {
  if (contract.kind === 'text') {
    const missing = contract.tokenizerFiles.filter((name) => !files.some((file) => file.name === name));
    check(missing.length === 0, `the text contract names ${missing.join(', ')} but no file was given for it; pass it in contractFiles`, [
      'contractFiles',
    ]);
  }
  await writeFile(join(stage, STUDENT_FILES.preprocessing), json(contract));
  for (const file of files) {
    const target = resolve(stage, file.name);
    check(!relative(stage, target).startsWith('..'), `contract file name ${file.name} leaves the folder; give a plain file name`, [
      'contractFiles',
    ]);
    await copyFile(file.path, target);
  }
}

/**
 * The latency a student folder reports for a model of `artifacts`' architecture, through `once`: the time a
 * prediction takes follows from the architecture and the backend, not the weights, so folders of one
 * architecture (a sweep's trials) share it, and a sweep may make it before any trial is trained.
 */
export function folderLatency(
  once: MeasureOnce,
  artifacts: StockArtifacts,
  test: Dataset,
  latency: LatencyOptions | undefined,
): Promise<LatencyMeasurement> {
  const key = `folder-latency:${JSON.stringify([latency ?? {}, artifacts.topology])}`;
  return once(key, () => traced('folder latency', () => measureLatency(artifacts, test, latency)));
}

/**
 * Writes a self-contained student folder at `dir`: model.json + weights.bin (float32), classes.json,
 * preprocessing.json and the files it names, the requested quantised variants (`uint8/` and so on, each
 * measured on the test rows with stock tfjs), any further artifacts, and README.md, a model card with the
 * report's numbers and the student's latency (measured here). It replaces whatever was at `dir` only once
 * complete. Returns what it wrote and measured.
 */
export async function writeStudentFolder(dir: string, options: StudentFolderOptions): Promise<StudentFolderResult> {
  const target = resolve(dir);
  const name = basename(target);
  const stage = join(dirname(target), `.${name}.partial-${process.pid}`);
  const contract = options.contract ?? datasetContract(options.test);
  const classes = classNames(options);
  try {
    await rm(stage, { recursive: true, force: true });
    await mkdir(dirname(target), { recursive: true });
    await saveModel(options.student, stage);
    await writeFile(join(stage, STUDENT_FILES.classes), `${JSON.stringify(classes)}\n`);
    await writeContract(stage, contract, options.contractFiles ?? []);
    const requested = options.quantize ?? [];
    const maxDrop = options.maxQuantizeDrop ?? DEFAULT_MAX_QUANTIZE_DROP;
    const quantization = requested.length > 0 ? await writeStudentVariants(stage, options.test, requested, maxDrop, name) : undefined;
    for (const write of options.artifacts ?? []) await write(stage);
    const artifacts = await readStockArtifacts(stage);
    const latency = await folderLatency(options.measureOnce ?? measureEveryTime, artifacts, options.test, options.latency);
    // A copy: the measurement may be shared with other folders (measureOnce).
    const folder: StudentFolderReport = { path: name, files: [], input: contract.kind, latency: structuredClone(latency) };
    const card = modelCard({
      report: options.report,
      student: options.student,
      contract,
      classes,
      quantization,
      folder,
      command: options.command,
    });
    await writeFile(join(stage, STUDENT_FILES.card), card);
    folder.files = await listFiles(stage);
    await rm(target, { recursive: true, force: true });
    await rename(stage, target);
    return { folder, ...(quantization && { quantization }) };
  } catch (error) {
    await rm(stage, { recursive: true, force: true });
    if (error instanceof DistillError) throw error;
    throw new DistillError(`could not write the student folder ${dir}: ${messageOf(error)}`);
  }
}

/**
 * The class names of a student folder: its own classes.json, else the one earlier runs wrote beside it in
 * the run's output folder; undefined when neither exists.
 */
export async function readStudentClasses(dir: string): Promise<string[] | undefined> {
  for (const place of CLASSES_PLACES) {
    const file = resolve(dir, place);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    let classes: unknown;
    try {
      classes = JSON.parse(text);
    } catch (error) {
      throw new DistillError(`${file} is not valid JSON (${messageOf(error)}); it should hold the class names in output order`);
    }
    check(
      Array.isArray(classes) && classes.every((c) => typeof c === 'string'),
      `${file} should hold a JSON array of class names in output order`,
    );
    return classes;
  }
  return undefined;
}
