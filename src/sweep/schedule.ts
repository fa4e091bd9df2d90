// How a sweep uses the machine: several single-worker trials at once, or one trial at a time across every
// worker. Data parallelism pays for averaging the gradients at every step, which a small student's step
// does not cover; independent trials pay nothing of the kind. Which wins is measured, not guessed.
import type { SweepReport } from './sweep-report.js';

/** How the trials are to be run: measured (`auto`), or as the caller says. */
export type ScheduleChoice = 'auto' | 'concurrent' | 'data-parallel';
/** Every schedule `schedule` takes, for its check and the CLI's help. */
export const SCHEDULE_CHOICES: readonly ScheduleChoice[] = ['auto', 'concurrent', 'data-parallel'];

export type Schedule = SweepReport['schedule'];

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
  /** Trains the largest student briefly on `workers` workers; returns its training samples per second. */
  probe: (workers: number) => Promise<number>;
}

/**
 * The schedule. `auto` times the largest student on one worker and on all of them, and estimates both
 * ways through the trials: rounds of `workers` trials side by side at the one-worker speed, against every
 * trial in turn at the all-worker speed. The trials are of the same budget, so samples cancel out.
 */
export async function chooseSchedule(inputs: ScheduleInputs): Promise<Schedule> {
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
  const alone = await inputs.probe(1);
  const together = await inputs.probe(workers);
  const rounds = Math.ceil(trials / workers);
  // Seconds per trial-sample: rounds of side-by-side trials, or each trial in turn on every worker.
  const concurrentCost = rounds / alone;
  const dataParallelCost = trials / together;
  const rate = (value: number) => `${Math.round(value).toLocaleString('en-US')} samples/s`;
  const measured =
    `measured ${student}: ${rate(alone)} on 1 worker, ${rate(together)} on ${workers}; ` +
    `${trials} trials take ${rounds} round${rounds === 1 ? '' : 's'} of ${workers} side by side (${(dataParallelCost / concurrentCost).toFixed(2)}x ` +
    'the speed of one at a time on every worker, counting side-by-side trials at the one-worker speed)';
  return concurrentCost < dataParallelCost
    ? { mode: 'concurrent', workers, reason: measured }
    : { mode: 'data-parallel', workers, reason: measured };
}
