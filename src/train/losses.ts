import * as tf from '@tensorflow/tfjs';
import { DistillError } from '../errors.js';

/**
 * A training objective, by name. Every distillation loss is `alpha * D + (1 - alpha) * CE(label)`, the
 * hard-label term on labelled rows only:
 * - `kd`: Hinton et al.'s D = T^2 * KL(softmax(zt / T) || softmax(zs / T));
 * - `dkd`: decoupled KD (Zhao et al., CVPR 2022), D = T^2 * (targetWeight * TCKD + nonTargetWeight * NCKD);
 *   the target class is the row's label, or the teacher's top class on an unlabeled row;
 * - `mse-logits`: D = mean over classes of (zs - zt)^2;
 * - `custom`: D from a module every worker imports (see {@link CustomLossFunction});
 * - `hard`: plain cross-entropy on the labels (teacher training and the baseline).
 */
export type LossSpec =
  | { name: 'kd'; temperature: number; alpha: number }
  | { name: 'dkd'; temperature: number; alpha: number; targetWeight: number; nonTargetWeight: number }
  | { name: 'mse-logits'; alpha: number }
  | { name: 'custom'; module: string; temperature: number; alpha: number; options: Record<string, unknown> }
  | { name: 'hard' };

/**
 * A loss of the user's own: the default export of a module every worker imports. It gets the slice's
 * tensors and returns the distillation term D as a scalar (tfjs differentiates it); tfjs-distill adds
 * `(1 - alpha) * CE` on the labelled rows and weighs D by `alpha`.
 */
export type CustomLossFunction = (
  inputs: { student: tf.Tensor2D; teacher: tf.Tensor2D; labels: tf.Tensor1D },
  settings: { temperature: number; options: Record<string, unknown> },
) => tf.Scalar;

/** One slice of a batch, as tensors. */
export interface LossInputs {
  /** [n, classes] student logits. */
  student: tf.Tensor2D;
  /** [n, classes] teacher logits (the soft labels); absent for losses that do not need them. */
  teacher?: tf.Tensor2D;
  /** [n] int32 class indices; -1 marks an unlabeled row. */
  labels: tf.Tensor1D;
}

/** One row of a slice, as plain numbers. */
interface LossRow {
  student: Float32Array;
  teacher?: Float32Array;
  /** The row's class, or -1 when it is unlabeled. */
  label: number;
}

/**
 * A loss on one row: returns the row's loss and writes its gradient with respect to the student's
 * logits into `grad`. Losses are written out with their gradients by hand: on [n, classes] logits, tfjs's
 * autodiff would run some 100 tiny kernels per step, whose dispatch cost more than the maths.
 */
type RowLoss<S extends LossSpec> = (row: LossRow, spec: S, grad: Float64Array) => number;

/** log-softmax of z / t into `out`; returns out. Stable for huge logits (the max is subtracted first). */
function logSoftmax(z: Float32Array, t: number, out: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v / t);
  let sum = 0;
  for (let c = 0; c < z.length; c++) sum += Math.exp(z[c] / t - max);
  const logSum = max + Math.log(sum);
  for (let c = 0; c < z.length; c++) out[c] = z[c] / t - logSum;
  return out;
}

/** Adds (1 - alpha)-weighted cross-entropy of the row's label (none for unlabeled rows) and its gradient softmax(z) - onehot(y). */
function addCrossEntropy({ student, label }: LossRow, weight: number, grad: Float64Array, scratch: Float64Array): number {
  if (label < 0 || label >= student.length || weight === 0) return 0;
  const logP = logSoftmax(student, 1, scratch);
  for (let c = 0; c < student.length; c++) grad[c] += weight * (Math.exp(logP[c]) - (c === label ? 1 : 0));
  return -weight * logP[label];
}

/**
 * alpha * T^2 * KL(softmax(zt/T) || softmax(zs/T)) + (1 - alpha) * CE(y, softmax(zs)); unlabeled rows keep
 * the first term only. T^2 keeps the soft term's gradient, alpha * T * (softmax(zs/T) - softmax(zt/T)),
 * independent of T in scale.
 */
const kd: RowLoss<Extract<LossSpec, { name: 'kd' }>> = (row, { temperature: t, alpha }, grad) => {
  const classes = row.student.length;
  const logQ = logSoftmax(row.student, t, new Float64Array(classes));
  const logP = logSoftmax(row.teacher!, t, new Float64Array(classes));
  let kl = 0;
  for (let c = 0; c < classes; c++) {
    const p = Math.exp(logP[c]);
    kl += p * (logP[c] - logQ[c]);
    grad[c] = alpha * t * (Math.exp(logQ[c]) - p);
  }
  return alpha * t * t * kl + addCrossEntropy(row, 1 - alpha, grad, logQ);
};

/** Probabilities are kept this far from 0 and 1 where DKD divides by them. */
const EPSILON = 1e-12;

/**
 * Decoupled KD. With s = softmax(zs / T), t = softmax(zt / T) and target g: TCKD is the KL divergence of
 * the binary target / non-target split, [t_g, 1 - t_g] against [s_g, 1 - s_g]; NCKD the KL divergence of
 * the distributions over the other classes alone. Their gradients with respect to zs are
 * (1 / T) * (s_g - t_g) / (1 - s_g) * (onehot(g) - s) and (1 / T) * (s^ - t^) off the target.
 */
const dkd: RowLoss<Extract<LossSpec, { name: 'dkd' }>> = (row, { temperature: t, alpha, targetWeight, nonTargetWeight }, grad) => {
  const classes = row.student.length;
  const logQ = logSoftmax(row.student, t, new Float64Array(classes));
  const logP = logSoftmax(row.teacher!, t, new Float64Array(classes));
  let target = row.label;
  if (target < 0) for (let c = 0, best = -Infinity; c < classes; c++) if (logP[c] > best) [best, target] = [logP[c], c];
  const sg = Math.min(Math.max(Math.exp(logQ[target]), EPSILON), 1 - EPSILON);
  const tg = Math.min(Math.max(Math.exp(logP[target]), EPSILON), 1 - EPSILON);
  const tckd = tg * Math.log(tg / sg) + (1 - tg) * Math.log((1 - tg) / (1 - sg));
  // NCKD: log-softmax over the non-target classes is the full log-softmax minus log(1 - p_g).
  const restQ = Math.log(1 - sg);
  const restP = Math.log(1 - tg);
  let nckd = 0;
  const k = (sg - tg) / (1 - sg);
  for (let c = 0; c < classes; c++) {
    const s = Math.exp(logQ[c]);
    grad[c] = alpha * t * targetWeight * k * ((c === target ? 1 : 0) - s);
    if (c === target) continue;
    const logPHat = logP[c] - restP;
    const logQHat = logQ[c] - restQ;
    const pHat = Math.exp(logPHat);
    nckd += pHat * (logPHat - logQHat);
    grad[c] += alpha * t * nonTargetWeight * (Math.exp(logQHat) - pHat);
  }
  return alpha * t * t * (targetWeight * tckd + nonTargetWeight * nckd) + addCrossEntropy(row, 1 - alpha, grad, logQ);
};

/** alpha * mean_c (zs - zt)^2 + (1 - alpha) * CE: regression on the logits themselves, no temperature. */
const mseLogits: RowLoss<Extract<LossSpec, { name: 'mse-logits' }>> = (row, { alpha }, grad) => {
  const classes = row.student.length;
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    const diff = row.student[c] - row.teacher![c];
    sum += diff * diff;
    grad[c] = (alpha * 2 * diff) / classes;
  }
  return (alpha * sum) / classes + addCrossEntropy(row, 1 - alpha, grad, new Float64Array(classes));
};

const hard: RowLoss<Extract<LossSpec, { name: 'hard' }>> = (row, _spec, grad) => {
  grad.fill(0);
  return addCrossEntropy(row, 1, grad, new Float64Array(row.student.length));
};

/** The built-in losses, by the name a LossSpec gives; `custom` is differentiated by tfjs instead. */
const LOSSES: { [N in Exclude<LossSpec['name'], 'custom'>]: RowLoss<Extract<LossSpec, { name: N }>> } = {
  kd,
  dkd,
  'mse-logits': mseLogits,
  hard,
};

/** The names a user can choose a distillation loss by. */
export const DISTILLATION_LOSSES = ['kd', 'dkd', 'mse-logits'] as const;

/** Modules of custom losses, imported once per thread (see {@link loadCustomLoss}). */
const customLosses = new Map<string, CustomLossFunction>();

/** Imports a custom loss's module in this thread; call it before the first {@link meanLoss} with it. */
export async function loadCustomLoss(module: string): Promise<void> {
  if (customLosses.has(module)) return;
  const loaded = (await import(module)) as { default?: unknown };
  if (typeof loaded.default !== 'function') {
    throw new DistillError(`the loss module ${module} has no default export of a function (inputs, settings) => tf.Scalar`, ['loss']);
  }
  customLosses.set(module, loaded.default as CustomLossFunction);
}

/** alpha * D (the user's function, differentiated by tfjs) + (1 - alpha) * CE on the labelled rows. */
function customLoss(spec: Extract<LossSpec, { name: 'custom' }>, { student, teacher, labels }: LossInputs): tf.Scalar {
  const distillation = customLosses.get(spec.module);
  if (!distillation) throw new Error(`custom loss ${spec.module} used before loadCustomLoss`);
  const d = distillation({ student, teacher: teacher!, labels }, { temperature: spec.temperature, options: spec.options });
  if (spec.alpha === 1) return tf.mul(d, 1) as tf.Scalar;
  return tf.add(tf.mul(d, spec.alpha), tf.mul(meanLoss({ name: 'hard' }, { student, labels }), 1 - spec.alpha)) as tf.Scalar;
}

/**
 * The mean loss over the rows of one slice, differentiable with respect to the student's logits: its
 * value and gradient are computed in float64 from the logits' values, row by row.
 */
export function meanLoss(spec: LossSpec, inputs: LossInputs): tf.Scalar {
  if (spec.name === 'custom') return customLoss(spec, inputs);
  const { student, teacher, labels } = inputs;
  const [rows, classes] = student.shape;
  const teacherValues = teacher?.dataSync() as Float32Array | undefined;
  const labelValues = labels.dataSync();
  const rowLoss = LOSSES[spec.name] as RowLoss<LossSpec>;
  const lossOf = tf.customGrad((logits) => {
    const values = (logits as tf.Tensor).dataSync() as Float32Array;
    const gradient = new Float32Array(rows * classes);
    const rowGrad = new Float64Array(classes);
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const at = r * classes;
      total += rowLoss(
        { student: values.subarray(at, at + classes), teacher: teacherValues?.subarray(at, at + classes), label: labelValues[r] },
        spec,
        rowGrad,
      );
      for (let c = 0; c < classes; c++) gradient[at + c] = rowGrad[c] / rows;
    }
    return { value: tf.scalar(total / rows), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.tensor2d(gradient, [rows, classes])) };
  });
  return lossOf(student) as tf.Scalar;
}
