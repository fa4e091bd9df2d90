// What a sweep's trials side by side would each wait for one of them to measure, made ahead of them: the
// teacher on the test rows and each architecture's latency on a worker, shared out among the runners before
// their first trials, and each architecture's student-folder latency on the measuring thread meanwhile. A
// trial then finds every figure made, and no runner idles while another times what it needs.
import { measureBeforeRuns } from '../distill/measure-once.js';
import { folderLatency } from '../distill/student-folder.js';
import { modelToData } from '../models/model-data.js';
import { loadModel } from '../models/model-files.js';
import type { DistillOptions } from '../options/options.js';
import type { PoolKeeper } from '../pool/pool-keeper.js';
import type { TrialContext, TrialPlan } from './trial.js';

/** The measurements ahead of the trials still to run side by side. */
export interface MeasuredAhead {
  /** Worker measurements not yet taken by a runner, each on a pool from the sweep's keeper: a runner runs what it takes before its first trial. */
  onRunners: (() => Promise<void>)[];
  /** The student folders' latencies, one after another on the measuring thread; settles (never rejects) when they are done, failed or stopped. */
  folders: Promise<void>;
  /** Starts no measurement not yet started (the sweep is stopping); those under way finish. */
  stop: () => void;
}

/**
 * The measurements ahead of `pending` (the trials still to run, side by side): the worker ones to share out,
 * and the folders' latencies, started now. A folder latency that fails is dropped (see measuredOnce) and the
 * trials that need it make it themselves, so its failure is only waited for, never thrown.
 */
export function measureAhead(pending: TrialPlan[], context: TrialContext, pools: PoolKeeper): MeasuredAhead {
  const firstOfEach = new Map<string, TrialPlan>();
  for (const plan of pending) {
    const architecture = context.studentName(plan.settings);
    if (!firstOfEach.has(architecture)) firstOfEach.set(architecture, plan);
  }
  // Each architecture on the options of its first trial (its pool, and its batch and optimizer to warm up with),
  // whose latency key is then the one its trials look up.
  const firstTrials = [...firstOfEach.values()].map((plan) => context.optionsOf(plan, 1));
  const { measureOnce } = context;
  // Longest first: a student's two latency timings, then the teacher's evaluation and timings.
  const onRunners = [
    ...firstTrials.map((trial) => () => measureBeforeRuns(trial, pools, measureOnce, { teacher: false, students: [trial.student] })),
    () => measureBeforeRuns(firstTrials[0], pools, measureOnce),
  ];
  let stopped = false;
  // One at a time, as the measuring thread times them anyway: a sweep that stops (or is cancelled) then waits
  // for the timing under way, not for every architecture's.
  const timeFolders = async () => {
    for (const { student, signal } of firstTrials) {
      if (stopped || signal?.aborted) return;
      await folderLatencyOf(student, context).catch(() => {});
    }
  };
  const stop = () => {
    stopped = true;
    onRunners.length = 0;
  };
  return { onRunners, folders: timeFolders(), stop };
}

/** The folder latency of `student` as a trial saves it: the architecture's topology (the weights do not change the time). */
async function folderLatencyOf(student: DistillOptions['student'], context: TrialContext): Promise<void> {
  const model = typeof student === 'string' ? await loadModel(student) : student;
  try {
    await folderLatency(context.measureOnce, await modelToData(model), context.test, undefined);
  } finally {
    if (typeof student === 'string') model.dispose();
  }
}
