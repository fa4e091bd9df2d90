// What a sweep's trials side by side would each wait for one of them to measure, made ahead of them: the
// teacher on the test rows and each architecture's latency on a worker, shared out among the runners before
// their first trials, and each architecture's student-folder latency on the measuring thread meanwhile. A
// trial then finds every figure made, and no runner idles while another times what it needs.
import { measureBeforeRuns } from '../distill/measure-once.js';
import { folderLatency } from '../distill/student-folder.js';
import { modelToData } from '../models/model-data.js';
import { loadModel } from '../models/model-files.js';
import type { PoolKeeper } from '../pool/pool-keeper.js';
import type { TrialContext, TrialPlan } from './trial.js';

/** The measurements ahead of the trials still to run side by side. */
export interface MeasuredAhead {
  /** Worker measurements not yet taken by a runner, each on a pool from the sweep's keeper: a runner runs what it takes before its first trial. */
  onRunners: (() => Promise<void>)[];
  /** The student folders' latencies, on the measuring thread; settles (never rejects) when they are done or failed. */
  folders: Promise<void>;
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
  const options = context.optionsOf(pending[0], 1);
  const students = [...firstOfEach.values()].map((plan) => context.optionsOf(plan, 1).student);
  // Longest first: a student's two latency timings, then the teacher's evaluation and timings.
  const onRunners = [
    ...students.map((student) => () => measureBeforeRuns(options, pools, context.measureOnce, { teacher: false, students: [student] })),
    () => measureBeforeRuns(options, pools, context.measureOnce),
  ];
  const folders = Promise.allSettled(
    students.map(async (student) => {
      // The folder's model as a trial saves it: the architecture's topology (the weights do not change the time).
      const model = typeof student === 'string' ? await loadModel(student) : student;
      const artifacts = await modelToData(model);
      if (typeof student === 'string') model.dispose();
      await folderLatency(context.measureOnce, artifacts, context.test, undefined);
    }),
  ).then(() => {});
  return { onRunners, folders };
}
