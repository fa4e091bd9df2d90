// The trials of a sweep before any runs: each point's distill() options (its student built the way `run`
// builds one, so that a trial equals the same settings run alone), and which trial trains which baseline.
import type * as tf from '@tensorflow/tfjs';
import { type Dataset, featureShape } from '../data/dataset.js';
import { buildModel, isArchitectureSpec } from '../models/architectures.js';
import { type DistillConfig, type DistillOptions, resultSettings } from '../options/options.js';
import { mixSeed } from '../random.js';
import { withSetting } from './grid.js';
import type { TrialPlan } from './trial.js';

/** Settings that only change how the student learns from the teacher: a baseline (hard labels alone) ignores them. */
const DISTILLATION_ONLY = new Set(['temperature', 'alpha', 'loss']);

/** The student of a trial: the grid's, else the sweep's. */
export function trialStudent(settings: Record<string, unknown>, student: tf.LayersModel | string | undefined): tf.LayersModel | string {
  return (settings.student as string | undefined) ?? student!;
}

/** A trial's student as reports name it. */
export function studentName(student: tf.LayersModel | string): string {
  return typeof student === 'string' ? student : (student.name ?? 'model');
}

/**
 * The plans of `points`: each trial's folder, and its baseline, shared by the trials that differ only in
 * distillation settings (same student, budget and seed); the first of them trains it.
 */
export function planTrials(points: Record<string, unknown>[]): TrialPlan[] {
  const baselines = new Map<string, number>();
  const width = String(Math.max(points.length - 1, 0)).length;
  return points.map((settings, index) => {
    const key = JSON.stringify(Object.entries(settings).filter(([name]) => !DISTILLATION_ONLY.has(name.split('.')[0])));
    const known = baselines.get(key);
    const baseline = known ?? baselines.size;
    if (known === undefined) baselines.set(key, baseline);
    return {
      index,
      settings,
      baseline,
      trainsBaseline: known === undefined,
      folder: `trials/${String(index).padStart(Math.max(width, 3), '0')}`,
    };
  });
}

/** Builds an architecture spec as `run` does (same seed), or returns the model or path as it is. */
export function materializeStudent(student: tf.LayersModel | string, train: Dataset, seed: number): tf.LayersModel | string {
  if (typeof student !== 'string' || !isArchitectureSpec(student)) return student;
  return buildModel(student, {
    inputShape: featureShape(train),
    numClasses: train.numClasses,
    vocabSize: train.tokens?.vocabSize,
    seed: mixSeed(seed, 12),
  });
}

/** The distill() options of a trial: the sweep's, its settings over them, its built student. */
export function trialOptions(
  base: Omit<DistillOptions, 'student'>,
  settings: Record<string, unknown>,
  student: tf.LayersModel | string,
): DistillOptions {
  let options: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(settings)) options = withSetting(options, key, value);
  return { ...(options as Omit<DistillOptions, 'student'>), student };
}

/**
 * What shaped a trial besides its grid point: every resolved setting but how the machine ran it (workers,
 * threads, the store's path) and which trial trains the baseline, with the data's digest. The student's
 * starting weights follow from its architecture (or path) and the seed, which all count.
 */
export function trialFingerprint(config: DistillConfig, student: string, dataDigest: string): string {
  return JSON.stringify({ settings: resultSettings(config, ['baseline']), student, data: dataDigest });
}
