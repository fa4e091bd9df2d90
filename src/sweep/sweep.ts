// `sweep()`: label once, distil many. The teacher labels the training rows once into the soft-label store;
// every trial of the grid reads that table; each architecture gets its hard-label baseline; the trial kept
// is the best on validation rows held out of training, and its test accuracy is only reported.
import type * as tf from '@tensorflow/tfjs';
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InputContract } from '../data/input-contract.js';
import type { ContractFile } from '../data/sources/source-entry.js';
import type { QuantizeChoice } from '../options/schema.js';
import { DistillCancelledError, check } from '../errors.js';
import { labelOnKeptPools } from '../labelling/label.js';
import { DEFAULT_SWEEP_VALIDATION } from '../options/groups/training.js';
import { type DistillConfig, type DistillOptions, resolveConfig } from '../options/options.js';
import { chooseParallelism } from '../options/parallelism.js';
import type { DistillReport } from '../reports/report.js';
import { checkGrid, gridPoints, gridSize, type SweepGrid } from './grid.js';
import { chooseBest, sweepNotices, teacherValidationAccuracy } from './sweep-findings.js';
import { planTrials, trialOptions, trialStudent } from './sweep-plan.js';
import { type QueuedTrials, type SweepQueueOptions, queuePaths, queueTrials } from './queue-trials.js';
import { sweepRows, trialContext } from './trial-context.js';
import { SWEEP_REPORT_VERSION, type SweepBaseline, type SweepReport, type SweepTrial } from './sweep-report.js';
import { type ScheduleChoice, chooseSchedule, measureStudent } from './schedule.js';
import { type TrialContext, type TrialPlan, type TrialRecord, finishedTrial, trainTrial } from './trial.js';
import { PoolKeeper } from '../pool/pool-keeper.js';
import type { MeasureOnce } from '../distill/measure-once.js';
import { measureAhead } from './measure-ahead.js';
import { warmMeasuringThread } from '../models/latency.js';
import { sweepHtml } from './sweep-html.js';
import { trace, traced } from '../trace.js';

// Declared with the validation option, whose help shows it.
export { DEFAULT_SWEEP_VALIDATION };

/** Everything {@link sweep} takes: distill()'s options (the student optional when the grid varies it), the grid, and where to write. */
export interface SweepOptions extends Omit<DistillOptions, 'student' | 'checkpoint' | 'baseline'> {
  /** The student of every trial whose grid point sets none: a model, a model path, or an architecture (`mlp:32`). */
  student?: tf.LayersModel | string;
  /** Option key to the values tried (see {@link SweepGrid}). */
  grid: SweepGrid;
  /** Sample this many grid points (seeded) instead of all of them. Default: all. */
  trials?: number | null;
  /** The output folder: sweep.json, trials/NNN/ (report.json, student/, baseline/), best/student/, the store. */
  out: string;
  /** Keep the trials an earlier sweep into `out` finished (their trial.json), and run only the rest. */
  resume?: boolean;
  /** Several single-worker trials at once, one trial at a time on every worker, or measured (default `auto`). */
  schedule?: ScheduleChoice;
  /** The students' input contract (preprocessing.json); default: what the test rows show. */
  contract?: InputContract;
  contractFiles?: ContractFile[];
  /** Quantised variants written into every trial's student folder, as `run`'s `quantize`; default none. */
  quantize?: readonly QuantizeChoice[];
  /** Points of test accuracy past which a variant is warned about (or passed over by `auto`); default 1. */
  maxQuantizeDrop?: number;
  /** Class names in output order, for the students' classes.json; default: the class indices. */
  classes?: string[];
  /** The teacher's name in the report; default: its path, or `model`. */
  teacherName?: string;
  /** Called as each trial finishes (or is found finished, when resuming). */
  onTrial?: (trial: SweepTrial, finished: number, total: number, resumed: boolean) => void;
  /**
   * Run the trials as jobs on a BullMQ queue, for `tfjs-distill worker` processes on any machine, instead of
   * here (see {@link SweepQueueOptions}). The teacher still labels here, once.
   */
  queue?: SweepQueueOptions;
  /**
   * Where the trials keep what they measure once (the teacher on the test rows, each architecture's latency);
   * default: this sweep's own. Whoever shares one must share the test rows too: its keys do not name them.
   * @internal
   */
  measureOnce?: MeasureOnce;
}

/** What {@link sweep} returns: the report it wrote to OUT/sweep.json. */
export interface SweepResult {
  report: SweepReport;
}

/** Distils the teacher into every point of the grid from one labelling, and keeps the best on validation. */
export async function sweep(options: SweepOptions): Promise<SweepResult> {
  const {
    grid: givenGrid,
    trials: trialCount,
    out: givenOut,
    resume,
    schedule: scheduleChoice,
    contract,
    contractFiles,
    quantize,
    maxQuantizeDrop,
    classes,
    teacherName,
    onTrial,
    queue,
    measureOnce,
    ...rest
  } = options;
  // Every machine reads and writes the same paths: on a queue they are absolute (see queuePaths).
  const { student, out, ...given } = queue ? queuePaths({ ...rest, out: givenOut }) : { ...rest, out: givenOut };
  const base: Omit<DistillOptions, 'student'> = { ...given, validation: given.validation ?? DEFAULT_SWEEP_VALIDATION, baseline: false };
  const config = resolveConfig({ ...base, student: student ?? 'unset' });
  // Checked before any labelling: the grid, each trial's options together, the teacher.
  const grid = checkGrid(givenGrid, base as Record<string, unknown>);
  check(student !== undefined || 'student' in grid, 'sweep needs a student, or student in the grid', ['student']);
  const points = gridPoints(grid, trialCount ?? null, config.seed);
  for (const settings of points) resolveConfig(trialOptions(base, settings, trialStudent(settings, student)));
  check(
    config.softLabelTopK === null || !('temperature' in grid),
    'a top-k soft-label store is made at one temperature; drop softLabelTopK or take temperature out of the grid',
    ['softLabelTopK'],
  );
  check(
    config.ensemble !== 'probabilities' || !Array.isArray(base.teacher) || base.teacher.length < 2 || !('temperature' in grid),
    "an ensemble's mean of probabilities is made at one temperature; use ensemble 'logits' or take temperature out of the grid",
    ['ensemble'],
  );
  check(
    config.teacherLogits !== null || (base.teacher !== undefined && config.teacherEpochs === 0),
    'sweep labels once with a trained teacher: give a teacher file or model with teacherEpochs 0 (train one with run), or teacherLogits',
    ['teacher', 'teacherEpochs'],
  );
  const { labelledRows, heldOut } = sweepRows(base, config);
  const plans = planTrials(points);
  const storeFile = config.teacherLogits === null ? (config.softLabels ?? join(out, 'soft-labels.sl')) : null;
  const extras = { contract, contractFiles, quantize, maxQuantizeDrop, classes };
  const context = trialContext({ base, student, config, storeFile, out, extras, measureOnce });
  // Built now (a student that does not fit the data fails here), before the teacher labels.
  for (const plan of plans) context.optionsOf(plan, 1);
  const onQueue = queue && queueTrials({ queue, base, student, config, storeFile, out, extras });
  await onQueue?.reachable();
  await mkdir(out, { recursive: true });

  // Pools kept from the labelling to auto's probe and from trial to trial, one per runner: starting a pool
  // (threads, tfjs, the backend's wasm) costs more than a small student's training.
  const pools = new PoolKeeper();
  // The measuring thread times each architecture's student folder; it loads tfjs while the teacher labels.
  const measuringThread = onQueue ? Promise.resolve() : warmMeasuringThread().catch(() => {});
  const labelledAndRun = (async () => {
    // The teacher labels once, into the store every trial reads.
    trace('sweep begin');
    const labelling = await traced('labelOnce', () => labelOnce(base, config, storeFile, pools));
    const how = { out, resume, scheduleChoice, config, onTrial, onQueue, pools, signal: base.signal };
    return { ...labelling, ...(await runTrials(plans, context, how)) };
  })().finally(() => Promise.all([pools.close(), measuringThread]));
  const { labelled, labelSeconds, finished, schedule } = await labelledAndRun;
  const records = plans.map((plan) => finished.get(plan.index)!);
  trace('trials done');
  const report = await sweepReport({
    out,
    grid,
    records,
    plans,
    schedule,
    labelling: { storeFile, seconds: labelled && !labelled.reused ? labelled.labelSeconds : labelSeconds },
    teacher: {
      spec: teacherName ?? (typeof base.teacher === 'string' ? base.teacher : (config.teacherLogits ?? 'model')),
      validationAccuracy: await teacherValidationAccuracy(config, labelled, storeFile, base, heldOut.rows),
    },
    rows: {
      train: base.train.y.length,
      labeled: labelledRows.length - heldOut.rows.length,
      validation: heldOut.rows.length,
      test: base.test.y.length,
    },
  });
  if (report.best !== null) await copyBest(out, records[report.best].trial.folder);
  await writeReport(out, report);
  trace('sweep end');
  return { report };
}

/** The teacher's labels of every training row, once, into the sweep's store (none with imported logits). */
async function labelOnce(base: Omit<DistillOptions, 'student'>, config: DistillConfig, storeFile: string | null, pools: PoolKeeper) {
  const labelStarted = performance.now();
  const teacherRows = base.teacherView ?? { train: base.train };
  const labelled =
    storeFile === null
      ? undefined
      : await labelOnKeptPools(
          {
            teacher: base.teacher!,
            ensemble: base.ensemble,
            teacherNormalize: base.teacherNormalize,
            teacherLayout: base.teacherLayout,
            teacherOutput: base.teacherOutput,
            teacherRuntime: base.teacherRuntime,
            train: teacherRows.train,
            softLabels: storeFile,
            softLabelTopK: config.softLabelTopK,
            temperature: config.temperature,
            workers: base.workers,
            backend: base.backend,
            kernels: base.kernels,
            barrierTimeoutMs: base.barrierTimeoutMs,
            maxRestarts: base.maxRestarts,
            workerMemoryMb: base.workerMemoryMb,
            workerImports: base.workerImports,
            onProgress: base.onProgress,
            signal: base.signal,
          },
          pools,
        );
  const labelSeconds = (performance.now() - labelStarted) / 1000;
  return { labelled, labelSeconds };
}

/** Runs the trials not finished before (resume), on the schedule chosen; returns every trial's record and the schedule. */
async function runTrials(
  plans: TrialPlan[],
  context: TrialContext,
  how: Pick<SweepOptions, 'out' | 'resume' | 'onTrial' | 'signal'> & {
    scheduleChoice: ScheduleChoice | undefined;
    config: DistillConfig;
    onQueue: QueuedTrials | undefined;
    pools: PoolKeeper;
  },
) {
  const { out, resume, scheduleChoice, config, onTrial, onQueue, pools, signal } = how;
  const finished = new Map<number, TrialRecord>();
  if (resume) {
    for (const plan of plans) {
      const record = await finishedTrial(plan, context);
      if (record) finished.set(plan.index, record);
    }
  } else {
    await rm(join(out, 'trials'), { recursive: true, force: true });
  }
  for (const record of finished.values()) onTrial?.(record.trial, finished.size, plans.length, true);

  if (onQueue) {
    await pools.close(); // the trials run on the queue's workers
    const pending = plans.filter((plan) => !finished.has(plan.index));
    await onQueue.run(pending, context, { finished, total: plans.length, onTrial });
    return { finished, schedule: onQueue.schedule };
  }
  const schedule = await traced('schedule', () =>
    scheduleFor(plans, context, { scheduleChoice, config, pending: plans.length - finished.size, pools }),
  );
  const pending = plans.filter((plan) => !finished.has(plan.index));
  const trialWorkers = schedule.mode === 'concurrent' ? 1 : schedule.workers;
  const runnerCount = schedule.mode === 'concurrent' ? schedule.workers : 1;
  // Trials side by side would each wait for one of them to measure the teacher and each architecture: the
  // runners share those measurements out before their first trials instead, and the measuring thread times
  // the folders meanwhile. One runner's first trials measure them, as a lone run does.
  const ahead = runnerCount > 1 && pending.length > 0 ? measureAhead(pending, context, pools) : undefined;
  const stop = () => {
    pending.length = 0; // no new trial starts; those running finish (and are kept for --resume)
    ahead?.stop(); // nor a measurement ahead not yet started
  };
  // One trial at a time, the trial that times its architecture's latency (the first of it here) does not
  // share the machine with a folder being written or a trial training: it trains after the trial before it is
  // written (its worker latency is timed as it ends), and it is written (its folder's latency) before the
  // next trains. Side by side, the other runners' trials train meanwhile anyway.
  const timedHere = new Set<string>();
  const timesLatency = (plan: TrialPlan) => {
    const architecture = context.studentName(plan.settings);
    const first = !timedHere.has(architecture);
    timedHere.add(architecture);
    return first;
  };
  // A cancelled sweep starts nothing more: a run polls its signal as it trains, which a short stage can miss.
  const notCancelled = () => {
    if (signal?.aborted) throw new DistillCancelledError('sweep cancelled; the trials written are kept for --resume');
    return true;
  };
  const runNext = async (): Promise<void> => {
    // The runner's last trial, its folder still being written on this thread while the next one trains.
    let writing: Promise<void> = Promise.resolve();
    let lastTimed = false;
    try {
      for (let measure = ahead?.onRunners.shift(); measure && notCancelled(); measure = ahead?.onRunners.shift()) await measure();
      for (let plan = pending.shift(); plan && notCancelled(); plan = pending.shift()) {
        const timing = runnerCount === 1 && timesLatency(plan);
        if (timing || lastTimed) await writing;
        lastTimed = timing;
        const { written } = await trainTrial(plan, trialWorkers, context, pools);
        // Chained before the last trial's write is awaited, so that a failure there still waits for this one.
        const previous = writing;
        writing = written.then((record) => {
          finished.set(record.trial.index, record);
          trace(`onTrial ${record.trial.index}`);
          onTrial?.(record.trial, finished.size, plans.length, false);
        });
        writing.catch(stop);
        // A runner holds at most two trained trials: one being written, the next waiting its turn.
        await previous;
      }
    } catch (error) {
      stop();
      await writing.catch(() => {}); // a trial being written is finished, and kept for --resume
      throw error;
    }
    await writing;
  };
  // Every runner ends before the sweep fails, so that no pool outlives it.
  const runners = await Promise.allSettled(Array.from({ length: runnerCount }, () => runNext()));
  await ahead?.folders;
  const failed = runners.find((runner): runner is PromiseRejectedResult => runner.status === 'rejected');
  if (failed) throw failed.reason;
  return { finished, schedule };
}

/** The schedule of the pending trials: as asked, or measured on the largest student (its pools left in `pools`). */
function scheduleFor(
  plans: TrialPlan[],
  context: TrialContext,
  how: { scheduleChoice: ScheduleChoice | undefined; config: DistillConfig; pending: number; pools: PoolKeeper },
) {
  const { scheduleChoice, config, pending, pools } = how;
  return chooseSchedule({
    choice: pending === 0 ? 'data-parallel' : (scheduleChoice ?? 'auto'),
    workers: config.workers,
    trials: pending,
    trainWorkers: config.trainWorkers,
    ...largestStudent(plans, context, config),
    measure: () => {
      const { plan, student } = largestStudent(plans, context, config);
      return measureStudent((workers) => context.optionsOf(plan, workers), config.workers, { trials: pending, student, pools });
    },
  });
}

/** The trial with the most trainable parameters (the probe's), and whether OpenBLAS threads would suit it. */
function largestStudent(plans: TrialPlan[], context: TrialContext, config: DistillConfig) {
  let best = { plan: plans[0], params: -1 };
  for (const plan of plans) {
    const model = context.optionsOf(plan, 1).student;
    const params = typeof model === 'string' ? 0 : model.countParams();
    if (params > best.params) best = { plan, params };
  }
  const { threadsPerWorker } = chooseParallelism({
    workers: undefined,
    threadsPerWorker: config.threadsPerWorker,
    backend: config.backend,
    kernels: config.kernels,
    studentParams: best.params,
    batchSize: config.batchSize,
  });
  return { plan: best.plan, student: context.studentName(best.plan.settings), blasThreads: threadsPerWorker > 1 };
}

interface ReportParts {
  out: string;
  grid: SweepGrid;
  records: TrialRecord[];
  plans: TrialPlan[];
  schedule: SweepReport['schedule'];
  labelling: SweepReport['labelling'];
  teacher: { spec: string; validationAccuracy: number };
  rows: SweepReport['rows'];
}

/** sweep.json: the trials in order, the baselines, the choice on validation, and the findings. */
async function sweepReport(parts: ReportParts): Promise<SweepReport> {
  const { records, plans, grid } = parts;
  const trials = records.map((record) => record.trial);
  const baselines: SweepBaseline[] = [];
  for (const plan of plans) if (plan.trainsBaseline) baselines[plan.baseline] = records[plan.index].baseline!;
  const best = chooseBest(trials);
  // Every trial evaluated the same teacher on the same test rows: the first trial's report says how it did.
  const firstReport = JSON.parse(await readFile(join(parts.out, trials[0].folder, 'report.json'), 'utf8')) as DistillReport;
  const teacher = firstReport.teacher;
  const size = teacher && 'params' in teacher ? { params: teacher.params, bytes: teacher.bytes } : { params: null, bytes: null };
  return {
    format: 'tfjs-distill/sweep',
    version: SWEEP_REPORT_VERSION,
    grid,
    gridPoints: gridSize(grid),
    trials,
    baselines,
    best,
    teacher: { ...parts.teacher, testAccuracy: teacher?.accuracy ?? Number.NaN, ...size },
    schedule: parts.schedule,
    rows: parts.rows,
    labelling: parts.labelling,
    notices: sweepNotices(trials, baselines, best),
  };
}

/** Copies the chosen trial's student folder to OUT/best/student/, whole or not at all. */
async function copyBest(out: string, folder: string): Promise<void> {
  const staging = join(out, 'best.partial');
  await rm(staging, { recursive: true, force: true });
  await cp(join(out, folder, 'student'), join(staging, 'student'), { recursive: true });
  await writeFile(join(staging, 'trial.txt'), `${folder}\n`);
  await rm(join(out, 'best'), { recursive: true, force: true });
  await rename(staging, join(out, 'best'));
}

/** Writes sweep.html and then sweep.json, each beside a temporary copy renamed into place: sweep.json last. */
async function writeReport(out: string, report: SweepReport): Promise<void> {
  for (const [name, text] of [
    ['sweep.html', sweepHtml(report)],
    ['sweep.json', `${JSON.stringify(report, null, 2)}\n`],
  ]) {
    const file = join(out, name);
    await writeFile(`${file}.partial`, text);
    await rename(`${file}.partial`, file);
  }
}
