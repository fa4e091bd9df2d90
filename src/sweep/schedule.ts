// How a sweep uses the machine: several single-worker trials at once, or one trial at a time across every
// worker. Data parallelism pays for averaging the gradients at every step, which a small student's step
// does not cover; independent trials pay nothing of the kind, but contend for the cores. Which wins is
// measured, not guessed: a few timed steps of the largest student run as each schedule runs it, bounded to a
// small share of the sweep's own steps, on pools the trials then run on.
import { LogitTable } from '../data/logit-table.js';
import { type RunData, openInputs, shareData } from '../distill/run-inputs.js';
import { startRun } from '../distill/run-context.js';
import { shareModel } from '../models/model-data.js';
import type { PoolKeeper } from '../pool/pool-keeper.js';
import { type DistillOptions, resolveConfig } from '../options/options.js';
import { mixSeed } from '../random.js';
import { trainDataParallel } from '../train/data-parallel.js';
import { lossSpecOf } from '../train/losses.js';
import { planPhase } from '../train/plan.js';
import type { ScheduleMeasurement, SweepReport } from './sweep-report.js';

/** How the trials are to be run: measured (`auto`), or as the caller says. */
export type ScheduleChoice = 'auto' | 'concurrent' | 'data-parallel';
/** Every schedule `schedule` takes, for its check and the CLI's help. */
export const SCHEDULE_CHOICES: readonly ScheduleChoice[] = ['auto', 'concurrent', 'data-parallel'];

export type Schedule = SweepReport['schedule'];

/** The most steps auto times on each pool in a round: enough to average out a step's jitter on a small student. */
export const PROBE_MAX_STEPS = 24;
/**
 * The fewest it times, whatever the sweep's size: a small student's step takes a few milliseconds, so fewer
 * would time the scheduler (another process's time slice) more than the step.
 */
export const PROBE_MIN_STEPS = 8;
/**
 * Rounds of both arrangements (side by side, then together): the first warms the threads (a thread's first
 * steps of a student run several times slower, and the arrangement timed first would pay for it), the rest
 * are timed, and each arrangement's best round counts (other work only ever slows a round down).
 */
export const PROBE_ROUNDS = 3;
/** The share of the sweep's training steps that auto's timed and warm-up steps (every round, both arrangements) may take. */
export const PROBE_SHARE = 0.02;

/** What the choice is made from. */
export interface ScheduleInputs {
  choice: ScheduleChoice;
  /** The workers the sweep may use. */
  workers: number;
  trials: number;
  /** The largest student's name, for the reason. */
  student: string;
  /** True when a single worker with several OpenBLAS threads suits the largest student (see chooseParallelism). */
  blasThreads: boolean;
  /** Times the largest student on `workers` single-worker pools side by side and on one of `workers` (see measureStudent). */
  measure: () => Promise<ScheduleMeasurement>;
  /** The sweep's trainWorkers option: a number above a trial's workers is lowered to them, which the reason says. */
  trainWorkers?: number | 'auto';
}

/**
 * The schedule. `auto` times the largest student as both schedules run it, and estimates both ways through
 * the trials: rounds of `workers` trials side by side at the speed each had beside the others, against every
 * trial in turn at the all-worker speed. The trials are of the same budget, so samples cancel out.
 */
export async function chooseSchedule(inputs: ScheduleInputs): Promise<Schedule> {
  const schedule = await scheduleOf(inputs);
  const trialWorkers = schedule.mode === 'concurrent' ? 1 : schedule.workers;
  const { trainWorkers } = inputs;
  if (typeof trainWorkers !== 'number' || trainWorkers <= trialWorkers) return schedule;
  const lowered = `trainWorkers ${trainWorkers} lowered to ${trialWorkers}, the workers each trial runs on`;
  return { ...schedule, reason: `${schedule.reason}; ${lowered}` };
}

async function scheduleOf(inputs: ScheduleInputs): Promise<Schedule> {
  const { choice, workers, trials, student } = inputs;
  if (choice === 'concurrent') {
    return { mode: 'concurrent', workers: Math.min(workers, trials), reason: 'asked for (schedule concurrent)' };
  }
  if (choice === 'data-parallel') return { mode: 'data-parallel', workers, reason: 'asked for (schedule data-parallel)' };
  if (workers === 1) return { mode: 'data-parallel', workers, reason: 'one worker: nothing to share out' };
  if (trials === 1) return { mode: 'data-parallel', workers, reason: 'one trial: nothing to run side by side' };
  if (inputs.blasThreads) {
    return {
      mode: 'data-parallel',
      workers: 1,
      reason: `${student} is large enough for a worker with an OpenBLAS thread per core, and OpenBLAS keeps one thread pool per process`,
    };
  }
  const measured = await inputs.measure();
  const { oneWorker: alone, allWorkers: together } = measured.samplesPerSec;
  const ranks = measured.trainWorkers < workers ? ` (training on ${measured.trainWorkers} of them, as a trial would)` : '';
  const rounds = Math.ceil(trials / workers);
  // Seconds per trial-sample: rounds of side-by-side trials, or each trial in turn on every worker.
  const concurrentCost = rounds / alone;
  const dataParallelCost = trials / together;
  const rate = (value: number) => `${Math.round(value).toLocaleString('en-US')} samples/s`;
  const timings =
    `measured ${student} over ${measured.steps} steps (the best of ${measured.rounds} rounds after a warm-up round): ${rate(alone)} on 1 worker (each of ${workers} side by side), ${rate(together)} on ${workers}${ranks}; ` +
    `${trials} trials take ${rounds} round${rounds === 1 ? '' : 's'} of ${workers} side by side (${(dataParallelCost / concurrentCost).toFixed(2)}x ` +
    'the speed of one at a time on every worker)';
  if (measured.trainWorkers < workers) {
    // One at a time, a trial would leave the pool's other workers idle: side by side they train the next
    // trials. A probe of a few steps on threads still warming up rates side by side too low to weigh against that.
    const idle = `a trial on every worker trains on ${measured.trainWorkers} of the ${workers}, leaving the rest idle, so trials run side by side`;
    return { mode: 'concurrent', workers, reason: `${idle}; ${timings}`, measured };
  }
  return { mode: concurrentCost < dataParallelCost ? 'concurrent' : 'data-parallel', workers, reason: timings, measured };
}

/**
 * The steps auto times on each pool in each round: a share of the sweep's training steps (`trials` trials of
 * `epochs` epochs) over the rounds' pools, less each pool's warm-up step, within [PROBE_MIN_STEPS,
 * PROBE_MAX_STEPS], and fewer than one epoch (warm-up included) wherever an epoch has more than
 * PROBE_MIN_STEPS + 1 steps.
 */
export function probeSteps(sweep: { trials: number; epochs: number; stepsPerEpoch: number }): number {
  const share = Math.floor((PROBE_SHARE * sweep.trials * sweep.epochs * sweep.stepsPerEpoch) / (2 * PROBE_ROUNDS)) - 1;
  return Math.max(1, Math.min(sweep.stepsPerEpoch - 2, Math.max(PROBE_MIN_STEPS, Math.min(PROBE_MAX_STEPS, share))));
}

/**
 * Times a trial's student (`options`, as the trial would run it) as each schedule runs it: `workers`
 * single-worker pools side by side (they contend as concurrent trials do), then one pool of `workers`, each
 * after one warm-up step, with the trial's loss, batch and optimizer on its training rows (the validation rows
 * held out) but no teacher, validation or evaluation: the soft labels' values do not change a step's cost.
 * Both run in PROBE_ROUNDS rounds, the first untimed. The pools come from and go back to `pools`, so that whichever schedule wins starts its trials on them.
 */
export async function measureStudent(
  options: (workers: number) => DistillOptions,
  workers: number,
  sweep: { trials: number; student: string; pools?: PoolKeeper },
): Promise<ScheduleMeasurement> {
  const started = performance.now();
  const probeOptions = (count: number): DistillOptions => ({
    ...options(count),
    checkpoint: undefined,
    baseline: false,
    onProgress: undefined,
  });
  const config = resolveConfig(probeOptions(1));
  const data = shareData(probeOptions(1), config);
  const stepsPerEpoch = Math.ceil(data.allRows.length / config.batchSize);
  const steps = probeSteps({ trials: sweep.trials, epochs: config.epochs, stepsPerEpoch });
  /**
   * Opens a probe per pool size in `sizes` (their pools starting at once), runs `time` on them, and gives their
   * pools back; when anything fails, every probe has ended before the pools are stopped and the error thrown.
   */
  const onProbes = async (sizes: number[], time: (probe: Probe) => Promise<TimedSteps>) => {
    const opened = await Promise.allSettled(sizes.map((size) => openProbe(probeOptions(size), data, sweep.pools)));
    const timed = opened.every((probe) => probe.status === 'fulfilled')
      ? await Promise.allSettled(opened.map((probe) => time((probe as PromiseFulfilledResult<Probe>).value)))
      : [];
    const failure = [...opened, ...timed].find((result) => result.status === 'rejected');
    for (const probe of opened) {
      if (probe.status !== 'fulfilled') continue;
      // Healthy pools go back to the sweep's keeper: the next probe, then the trials, run on them.
      if (failure) await probe.value.run.supervisor.destroy();
      else await probe.value.run.supervisor.release();
    }
    if (failure) throw (failure as PromiseRejectedResult).reason;
    return timed.map((result) => (result as PromiseFulfilledResult<TimedSteps>).value);
  };
  // Side by side, then together, round after round: on the same threads when `pools` keeps them (the labelling's).
  const ones: TimedSteps[] = [];
  const alls: TimedSteps[] = [];
  for (let round = 0; round < PROBE_ROUNDS; round++) {
    const each = await onProbes(Array(workers).fill(1), (probe) => timedSteps(probe, data, steps));
    const [all] = await onProbes([workers], (probe) => timedSteps(probe, data, steps));
    if (round === 0) continue; // the threads' warm-up
    const one = {
      ...each[0],
      samplesPerSec: mean(each.map((timed) => timed.samplesPerSec)),
      steps: Math.min(...each.map((timed) => timed.steps)),
    };
    ones.push(one);
    alls.push(all);
  }
  const best = (rounds: TimedSteps[]) => rounds.reduce((a, b) => (b.samplesPerSec > a.samplesPerSec ? b : a));
  const [one, all] = [best(ones), best(alls)];
  // The ranks the trial on every worker trains on (trainWorkers, resolved for its student).
  const trainWorkers = all.ranks;
  const seconds = (performance.now() - started) / 1000;
  // The steps the workers say they timed (both pools train the same plan).
  const timed = Math.max(one.steps, all.steps);
  return {
    student: sweep.student,
    steps: timed,
    rounds: PROBE_ROUNDS - 1,
    stepsPerEpoch,
    samplesPerSec: { oneWorker: one.samplesPerSec, allWorkers: all.samplesPerSec },
    trainWorkers,
    seconds,
  };
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

interface TimedSteps {
  samplesPerSec: number;
  steps: number;
  /** The ranks the steps ran on: the pool's first, as many as the trial would train on. */
  ranks: number;
}

/** A run for the measurement with its pool started: the student checked against the data, no teacher opened. */
async function openProbe(options: DistillOptions, data: RunData, pools: PoolKeeper | undefined) {
  // The options name the teacher (resolveConfig asks for one) but no step reads it.
  const config = { ...resolveConfig(options), teacherTestLogits: null };
  const inputs = await openInputs({ ...options, teacher: undefined }, config, data);
  const run = await startRun(options, config, inputs, pools);
  try {
    await run.supervisor.run('setup', async () => {});
  } catch (error) {
    await run.supervisor.destroy();
    throw error;
  }
  return { run, student: inputs.student };
}

type Probe = Awaited<ReturnType<typeof openProbe>>;

/** Training samples per second over `steps` steps after a warm-up step, on the probe's pool, and the steps timed. */
async function timedSteps(probe: Probe, data: RunData, steps: number): Promise<TimedSteps> {
  const { run, student } = probe;
  const { config, options } = run;
  const rows = data.allRows;
  const softLabels = LogitTable.create(data.train.rows, data.train.numClasses);
  softLabels.values.fill(0);
  // Timed as the trial trains: on the ranks trainWorkers gives its student, the pool's first.
  const ranks = run.trainWorkersOf(student);
  const outcome = await run.supervisor.run('student', (pool) =>
    trainDataParallel(pool.firstRanks(ranks), {
      phase: 'student',
      model: shareModel(student.data),
      trainableParams: student.trainableParams,
      data: data.studentTrain,
      rows,
      plan: planPhase({ rows: rows.length, batchSize: config.batchSize, workers: ranks, steps: steps + 1 }),
      softLabels,
      loss: lossSpecOf(config.loss, config),
      optimizer: config.optimizer,
      rules: { lrSchedule: config.lrSchedule, weightDecay: config.weightDecay, clipNorm: config.clipNorm },
      seed: mixSeed(config.seed, 2),
      onNonFinite: config.onNonFinite,
      augment: run.augment,
      onProgress: () => {},
      signal: options.signal,
    }),
  );
  // The warm-up step trained a whole batch: no step before the epoch's last is short.
  const samplesPerSec = (outcome.samples - Math.min(config.batchSize, rows.length)) / (outcome.seconds - outcome.firstStepSeconds);
  return { samplesPerSec, steps: outcome.steps - 1, ranks };
}
