// What every trial of a sweep shares, made from the sweep's options in one place: the local sweep and a queue
// worker (which reloads the same data) build it the same way, so that a trial trains the same either way.
import type * as tf from '@tensorflow/tfjs';
import { validationRows } from '../distill/run-inputs.js';
import { type MeasureOnce, measuredOnce } from '../distill/measure-once.js';
import { type DistillConfig, type DistillOptions, resolveConfig } from '../options/options.js';
import { datasetDigest } from '../teachers/fingerprint.js';
import { materializeStudent, studentName, trialFingerprint, trialOptions, trialStudent } from './sweep-plan.js';
import type { TrialContext } from './trial.js';

/** The sweep's trial-wide options: the distill() options every trial starts from, and where the trials write. */
export interface TrialSources {
  /** distill()'s options as the sweep resolved them (validation defaulted, no baseline), without a student. */
  base: Omit<DistillOptions, 'student'>;
  /** The student of trials whose settings name none. */
  student: tf.LayersModel | string | undefined;
  config: DistillConfig;
  /** The soft-label store every trial reads, or null with imported logits. */
  storeFile: string | null;
  out: string;
  extras: Pick<TrialContext, 'contract' | 'contractFiles' | 'quantize' | 'maxQuantizeDrop' | 'classes'>;
  /** Where the trials keep what they measure once; default: a new one, these trials' own. */
  measureOnce?: MeasureOnce;
}

/** The rows whose labels the student sees (labelled, among the first `labeled`), and the validation rows held out of them. */
export function sweepRows(base: Pick<DistillOptions, 'train'>, config: DistillConfig) {
  const labels = base.train.y;
  const end = config.labeled === null ? labels.length : Math.min(config.labeled, labels.length);
  const rows: number[] = [];
  for (let row = 0; row < end; row++) if (labels[row] >= 0) rows.push(row);
  const labelledRows = Int32Array.from(rows);
  return { labelledRows, heldOut: validationRows(labelledRows, config.validation, config.seed)! };
}

/** The digest of the sweep's training and test rows: a trial's fingerprint holds it, a queue job checks it. */
export function sweepDataDigest(base: Pick<DistillOptions, 'train' | 'test'>): string {
  return [datasetDigest(base.train), datasetDigest(base.test)].join();
}

/** The context every trial runs in; each architecture's student is built once, as `run` builds it. */
export function trialContext(sources: TrialSources): TrialContext {
  const { base, student, config, storeFile, out, extras, measureOnce } = sources;
  // Trials report as they finish (onTrial): their epochs would interleave when several run at once.
  const trialBase = { ...base, onProgress: undefined, ...(storeFile && { softLabels: storeFile }) };
  const builtStudents = new Map<string, tf.LayersModel | string>();
  const studentOf = (settings: Record<string, unknown>) => {
    const spec = trialStudent(settings, student);
    const name = typeof spec === 'string' ? spec : `model:${settings.student ?? ''}`;
    if (!builtStudents.has(name)) builtStudents.set(name, materializeStudent(spec, base.train, config.seed));
    return builtStudents.get(name)!;
  };
  const dataDigest = sweepDataDigest(base);
  return {
    out,
    optionsOf: (plan, workers) => ({
      ...trialOptions(trialBase, plan.settings, studentOf(plan.settings)),
      // A trial on the sweep's default pool (workers not given) leaves workers out, as `run` would: trainWorkers
      // 'auto' then trains on the ranks the student's work calls for, not on every worker of the pool.
      ...((base.workers !== undefined || workers !== config.workers) && { workers }),
      ...(workers === 1 && base.threadsPerWorker === undefined && { threadsPerWorker: 1 }),
      // A training worker count given for the sweep is lowered to each trial's pool (the schedule's reason says so).
      ...(typeof base.trainWorkers === 'number' && { trainWorkers: Math.min(base.trainWorkers, workers) }),
      baseline: plan.trainsBaseline,
    }),
    fingerprintOf: (plan) =>
      trialFingerprint(
        resolveConfig(trialOptions(trialBase, plan.settings, studentOf(plan.settings))),
        studentName(trialStudent(plan.settings, student)),
        dataDigest,
      ),
    studentName: (settings) => studentName(trialStudent(settings, student)),
    train: base.train,
    test: base.test,
    validationRows: sweepRows(base, config).heldOut.rows,
    measureOnce: measureOnce ?? measuredOnce(),
    ...extras,
  };
}
