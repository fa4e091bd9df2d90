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

/** Per-row loss, shape [n]; the trainer averages it over the batch. */
type PerRowLoss<S extends LossSpec> = (inputs: LossInputs, spec: S) => tf.Tensor1D;

/** Cross-entropy of each row's label under softmax(logits); 0 for unlabeled rows (oneHot(-1) is all zeros). */
function crossEntropyRows(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  const targets = tf.oneHot(labels, logits.shape[1]);
  return tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1)) as tf.Tensor1D;
}

/**
 * alpha * T^2 * KL(softmax(zt/T) || softmax(zs/T)) + (1 - alpha) * CE(y, softmax(zs)), computed with
 * log-softmax so large logits neither overflow nor underflow. Unlabeled rows keep the first term only.
 * T^2 keeps the soft term's gradient scale independent of T.
 */
const kd: PerRowLoss<Extract<LossSpec, { name: 'kd' }>> = ({ student, teacher, labels }, { temperature: t, alpha }) => {
  const logStudent = tf.logSoftmax(tf.div(student, t));
  const logTeacher = tf.logSoftmax(tf.div(teacher!, t));
  const kl = tf.sum(tf.mul(tf.exp(logTeacher), tf.sub(logTeacher, logStudent)), -1);
  const soft = tf.mul(kl, alpha * t * t) as tf.Tensor1D;
  return alpha === 1 ? soft : tf.add(soft, tf.mul(crossEntropyRows(student, labels), 1 - alpha));
};

const hard: PerRowLoss<Extract<LossSpec, { name: 'hard' }>> = ({ student, labels }) => crossEntropyRows(student, labels);

/** The registered losses, by the name a LossSpec gives. */
const LOSSES: { [N in LossSpec['name']]: PerRowLoss<Extract<LossSpec, { name: N }>> } = { kd, hard };

/** The mean loss over the rows of one slice. */
export function meanLoss(spec: LossSpec, inputs: LossInputs): tf.Scalar {
  return tf.mean((LOSSES[spec.name] as PerRowLoss<LossSpec>)(inputs, spec));
}
