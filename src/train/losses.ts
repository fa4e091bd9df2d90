import * as tf from '@tensorflow/tfjs';

/**
 * A training objective, by name. `kd` is Hinton et al.'s distillation loss; `hard` is plain cross-entropy
 * on the labels (teacher training and the baseline use it).
 */
export type LossSpec = { name: 'kd'; temperature: number; alpha: number } | { name: 'hard' };

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

const hard: RowLoss<Extract<LossSpec, { name: 'hard' }>> = (row, _spec, grad) => {
  grad.fill(0);
  return addCrossEntropy(row, 1, grad, new Float64Array(row.student.length));
};

/** The registered losses, by the name a LossSpec gives. */
const LOSSES: { [N in LossSpec['name']]: RowLoss<Extract<LossSpec, { name: N }>> } = { kd, hard };

/**
 * The mean loss over the rows of one slice, differentiable with respect to the student's logits: its
 * value and gradient are computed in float64 from the logits' values, row by row.
 */
export function meanLoss(spec: LossSpec, { student, teacher, labels }: LossInputs): tf.Scalar {
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
