import tf from '../../tf.cjs';
import type { LossInputs } from './loss-entry.js';

/** One row of a slice, as plain numbers. */
export interface LossRow {
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
export type RowLoss<S> = (row: LossRow, spec: S, grad: Float64Array) => number;

/** log-softmax of z / t into `out`; returns out. Stable for huge logits (the max is subtracted first). */
export function logSoftmax(z: Float32Array, t: number, out: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v / t);
  let sum = 0;
  for (let c = 0; c < z.length; c++) sum += Math.exp(z[c] / t - max);
  const logSum = max + Math.log(sum);
  for (let c = 0; c < z.length; c++) out[c] = z[c] / t - logSum;
  return out;
}

/** Adds (1 - alpha)-weighted cross-entropy of the row's label (none for unlabeled rows) and its gradient softmax(z) - onehot(y). */
export function addCrossEntropy({ student, label }: LossRow, weight: number, grad: Float64Array, scratch: Float64Array): number {
  if (label < 0 || label >= student.length || weight === 0) return 0;
  const logP = logSoftmax(student, 1, scratch);
  for (let c = 0; c < student.length; c++) grad[c] += weight * (Math.exp(logP[c]) - (c === label ? 1 : 0));
  return -weight * logP[label];
}

/**
 * The mean of a row loss over a slice, differentiable with respect to the student's logits: its value and
 * gradient are computed in float64 from the logits' values, row by row.
 */
export function meanOfRows<S>(rowLoss: RowLoss<S>): (spec: S, inputs: LossInputs) => tf.Scalar {
  return (spec, { student, teacher, labels }) => {
    const [rows, classes] = student.shape;
    const teacherValues = teacher?.dataSync() as Float32Array | undefined;
    const labelValues = labels.dataSync();
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
  };
}
