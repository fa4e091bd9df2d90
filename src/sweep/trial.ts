// One trial of a sweep: distil with its settings from the sweep's soft-label store, measure it on the
// validation rows, and write its folder (report.json, student/, its baseline when it trains one), whole or
// not at all, so that a resumed sweep can trust every folder it finds.
import tf from '../tf.cjs';
import { readFile, rename, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Dataset, featureShape, holdsPixels } from '../data/dataset.js';
import type { InputContract } from '../data/input-contract.js';
import type { ContractFile } from '../data/sources/source-entry.js';
import { type DistillResult, distillOnKeptPools } from '../distill/distill.js';
import type { MeasureOnce } from '../distill/measure-once.js';
import { writeStudentFolder } from '../distill/student-folder.js';
import { DistillError, check } from '../errors.js';
import { saveModel } from '../models/model-files.js';
import type { DistillOptions } from '../options/options.js';
import type { PoolKeeper } from '../pool/pool-keeper.js';
import type { QuantizeChoice } from '../options/schema.js';
import type { SweepBaseline, SweepTrial } from './sweep-report.js';
import { trace, traced } from '../trace.js';
import { readAndDispose } from '../tensor-values.js';

/** A trial before it runs: its place, its settings, and whether it trains its architecture's baseline. */
export interface TrialPlan {
  index: number;
  settings: Record<string, unknown>;
  /** Its architecture's baseline, by index in the report's `baselines`. */
  baseline: number;
  /** True for the first trial of each baseline: it trains that baseline too. */
  trainsBaseline: boolean;
  /** Its folder, relative to the sweep's output folder. */
  folder: string;
}

/** What a finished trial left in its folder's trial.json. */
export interface TrialRecord {
  settings: Record<string, unknown>;
  /** Everything else that shaped the trial (see TrialContext.fingerprintOf): a resumed sweep keeps only trials that match it. */
  fingerprint: string;
  trial: SweepTrial;
  /** The baseline it trained, if it trained one. */
  baseline?: SweepBaseline;
}

/** What every trial shares. */
export interface TrialContext {
  out: string;
  /** The distill() options of a trial's settings (its student built, the store and validation set). */
  optionsOf: (plan: TrialPlan, workers: number) => DistillOptions;
  /** The trial's settings beyond its grid point, and the data: what must match for --resume to keep it. */
  fingerprintOf: (plan: TrialPlan) => string;
  /** The student as the report names it: the architecture or the path. */
  studentName: (settings: Record<string, unknown>) => string;
  train: Dataset;
  test: Dataset;
  /** The held-out validation rows of `train`. */
  validationRows: Int32Array;
  /** The teacher's test evaluation and each student architecture's latency, measured by the first trial to need them. */
  measureOnce: MeasureOnce;
  contract?: InputContract;
  contractFiles?: ContractFile[];
  quantize?: readonly QuantizeChoice[];
  maxQuantizeDrop?: number;
  classes?: string[];
}

export const TRIAL_RECORD = 'trial.json';

/** The trial.json of a finished trial with these settings, or undefined when there is none (or it is another trial's). */
export async function finishedTrial(plan: TrialPlan, context: TrialContext): Promise<TrialRecord | undefined> {
  const text = await readFile(join(context.out, plan.folder, TRIAL_RECORD), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const record = JSON.parse(text) as TrialRecord;
  const same = JSON.stringify(record.settings) === JSON.stringify(plan.settings) && record.fingerprint === context.fingerprintOf(plan);
  const hasBaseline = !plan.trainsBaseline || record.baseline !== undefined;
  return same && hasBaseline ? record : undefined;
}

/**
 * The main thread's work after a trial trains (validation predictions, the student folder and its latency,
 * measured in a thread of its own) runs one trial at a time, while other trials keep training.
 */
let mainThreadTurn: Promise<unknown> = Promise.resolve();
function onMainThread<T>(work: () => Promise<T>): Promise<T> {
  const turn = mainThreadTurn.then(work);
  mainThreadTurn = turn.catch(() => {});
  return turn;
}

/** Runs one trial on `workers` workers (a pool from `pools` when given) and writes its folder; returns what trial.json holds. */
export async function runTrial(plan: TrialPlan, workers: number, context: TrialContext, pools?: PoolKeeper): Promise<TrialRecord> {
  return (await trainTrial(plan, workers, context, pools)).written;
}

/**
 * Trains one trial as {@link runTrial} does, and resolves as soon as its pool is given back, with the promise
 * of its folder (written in its turn on this thread): the pool can start the next trial meanwhile.
 */
export async function trainTrial(
  plan: TrialPlan,
  workers: number,
  context: TrialContext,
  pools?: PoolKeeper,
): Promise<{ written: Promise<TrialRecord> }> {
  const started = performance.now();
  trace(`trial ${plan.index} train begin`);
  const { teacher, ...result } = await distillOnKeptPools(context.optionsOf(plan, workers), pools, context.measureOnce);
  // The sweep keeps nothing of the teacher a run hands back (its figures are in the report): freed before the
  // trial waits its turn to be written.
  teacher?.dispose();
  const seconds = (performance.now() - started) / 1000;
  trace(`trial ${plan.index} train end`);
  const written = onMainThread(() => traced(`trial ${plan.index} write`, () => measureAndWrite(plan, context, result, seconds)));
  written.catch(() => {}); // its caller may be awaiting another trial's folder first; the failure reaches it when it awaits this one
  return { written };
}

/** What a trial's run gave that its folder holds: the student, its baseline, the report (not the teacher). */
type TrainedTrial = Omit<DistillResult, 'teacher'>;

/** A trained trial measured on the validation rows, and its folder written. */
async function measureAndWrite(plan: TrialPlan, context: TrialContext, result: TrainedTrial, seconds: number): Promise<TrialRecord> {
  try {
    const labels = result.report.softLabels;
    // The sweep's promise: the teacher labelled once, before the trials.
    check(
      labels.reused || labels.importedFrom !== null,
      `trial ${plan.index} labelled the rows again instead of reading the sweep's soft-label store ${labels.file}`,
    );
    const student = result.report.student;
    const measured = {
      student: context.studentName(plan.settings),
      params: student.params,
      bytes: student.params * Float32Array.BYTES_PER_ELEMENT,
      // A baseline is the same architecture: the same size and latency.
      latencyMsBatch1: student.latencyMsBatch1,
      seconds,
    };
    const trial: SweepTrial = {
      ...measured,
      index: plan.index,
      settings: plan.settings,
      baseline: plan.baseline,
      validationAccuracy: validationAccuracy(result.student, context.train, context.validationRows),
      testAccuracy: student.accuracy,
      agreement: student.agreement,
      folder: plan.folder,
    };
    const baseline: SweepBaseline | undefined =
      result.baseline && result.report.baseline
        ? {
            ...measured,
            validationAccuracy: validationAccuracy(result.baseline, context.train, context.validationRows),
            testAccuracy: result.report.baseline.accuracy,
            agreement: result.report.baseline.agreement,
            folder: `${plan.folder}/baseline`,
          }
        : undefined;
    check(!plan.trainsBaseline || baseline !== undefined, `trial ${plan.index} was to train its baseline but none came back`);
    const record: TrialRecord = { settings: plan.settings, fingerprint: context.fingerprintOf(plan), trial, ...(baseline && { baseline }) };
    trace(`trial ${plan.index} validated`);
    await writeTrialFolder(context, plan, result, record);
    return record;
  } finally {
    result.student.dispose();
    result.baseline?.dispose();
  }
}

/** Writes the trial's folder into a staging folder and renames it into place, trial.json last. */
async function writeTrialFolder(context: TrialContext, plan: TrialPlan, result: TrainedTrial, record: TrialRecord): Promise<void> {
  const folder = join(context.out, plan.folder);
  const staging = `${folder}.partial`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    if (context.classes) result.report.data.classes = context.classes;
    const written = await writeStudentFolder(join(staging, 'student'), {
      student: result.student,
      report: result.report,
      test: context.test,
      contract: context.contract,
      contractFiles: context.contractFiles,
      quantize: context.quantize,
      maxQuantizeDrop: context.maxQuantizeDrop,
      measureOnce: context.measureOnce,
      command: `tfjs-distill sweep (trial ${plan.index}: ${JSON.stringify(plan.settings)})`,
    });
    result.report.studentFolder = written.folder;
    if (written.quantization) result.report.quantization = written.quantization;
    if (result.baseline) await saveModel(result.baseline, join(staging, 'baseline'));
    await writeFile(join(staging, 'report.json'), `${JSON.stringify(result.report, null, 2)}\n`);
    await writeFile(join(staging, TRIAL_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    await rm(folder, { recursive: true, force: true });
    await rename(staging, folder);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (error instanceof DistillError) throw error;
    throw new DistillError(`could not write trial ${plan.index}'s folder ${folder}: ${(error as Error).message}`);
  }
}

/** Top-1 accuracy of `model` on `rows` of `data`, on this thread (uint8 pixels scaled by 1/255, as the run does). */
export function validationAccuracy(model: tf.LayersModel, data: Dataset, rows: Int32Array): number {
  const shape = featureShape(data);
  const width = shape.reduce((a, b) => a * b, 1);
  const scale = holdsPixels(data) ? 1 / 255 : 1;
  const batch = 512;
  let hits = 0;
  for (let start = 0; start < rows.length; start += batch) {
    const end = Math.min(rows.length, start + batch);
    const values = new Float32Array((end - start) * width);
    for (let i = start; i < end; i++) {
      const row = rows[i];
      for (let j = 0; j < width; j++) values[(i - start) * width + j] = data.x[row * width + j] * scale;
    }
    const predicted = readAndDispose<Int32Array>(
      tf.tidy(() => (model.predict(tf.tensor(values, [end - start, ...shape])) as tf.Tensor).argMax(-1)),
    );
    for (let i = start; i < end; i++) if (predicted[i - start] === data.y[rows[i]]) hits++;
  }
  return rows.length === 0 ? 0 : hits / rows.length;
}
