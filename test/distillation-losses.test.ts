import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { meanLoss } from '../dist/train/losses.js';

// Student and teacher logits for four rows of 4 classes; the last row is unlabeled.
const student = [
  [1.0, 2.0, 0.5, -0.3],
  [-1.0, 0.3, 2.2, 0.1],
  [0.0, 0.0, 0.0, 0.0],
  [2.5, -1.0, 0.4, 1.1],
];
const teacher = [
  [2.0, 0.0, 1.0, -1.0],
  [0.5, -0.5, 3.0, 0.2],
  [1.5, 0.2, -2.0, 0.3],
  [0.1, 0.9, -0.4, 2.0],
];
const labels = [1, 2, 0, -1];

/** The loss as meanLoss computes it (hand-written gradient), its value and gradient. */
function computed(spec: Parameters<typeof meanLoss>[0], zs = student) {
  const t = tf.tensor2d(teacher);
  const l = tf.tensor1d(labels, 'int32');
  const { value, grad } = tf.valueAndGrad((s: tf.Tensor) => meanLoss(spec, { student: s as tf.Tensor2D, teacher: t, labels: l }))(
    tf.tensor2d(zs),
  );
  return { value: value.dataSync()[0], grad: grad.arraySync() as number[][] };
}

/** The same losses written with tfjs ops from the papers' formulas, for tfjs's autodiff to differentiate. */
function autodiff(name: 'kd' | 'dkd' | 'mse-logits', alpha: number, t: number, a = 1, b = 8) {
  const zt = tf.tensor2d(teacher);
  const y = tf.tensor1d(labels, 'int32');
  const f = (zs: tf.Tensor2D) => {
    const n = zs.shape[0];
    const c = zs.shape[1];
    const labelled = tf.cast(tf.greaterEqual(y, 0), 'float32');
    const target = tf.where(tf.greaterEqual(y, 0), y, tf.argMax(zt, 1).toInt()).toInt() as tf.Tensor1D;
    const onehot = tf.oneHot(target, c).toFloat();
    const ce = tf.mul(
      tf.neg(tf.sum(tf.mul(tf.oneHot(tf.maximum(y, 0).toInt() as tf.Tensor1D, c).toFloat(), tf.logSoftmax(zs)), 1)),
      labelled,
    );
    let d: tf.Tensor;
    if (name === 'mse-logits') {
      d = tf.mean(tf.square(tf.sub(zs, zt)), 1);
    } else if (name === 'kd') {
      const p = tf.softmax(tf.div(zt, t));
      d = tf.mul(t * t, tf.sum(tf.mul(p, tf.sub(tf.log(p), tf.logSoftmax(tf.div(zs, t)))), 1));
    } else {
      const s = tf.softmax(tf.div(zs, t));
      const p = tf.softmax(tf.div(zt, t));
      const sg = tf.sum(tf.mul(s, onehot), 1);
      const pg = tf.sum(tf.mul(p, onehot), 1);
      const tckd = tf.add(tf.mul(pg, tf.log(tf.div(pg, sg))), tf.mul(tf.sub(1, pg), tf.log(tf.div(tf.sub(1, pg), tf.sub(1, sg)))));
      // Non-target distributions: mask the target with a large negative logit.
      const mask = tf.mul(onehot, -1e9);
      const sHat = tf.logSoftmax(tf.add(tf.div(zs, t), mask));
      const pHat = tf.softmax(tf.add(tf.div(zt, t), mask));
      const nckd = tf.sum(tf.mul(pHat, tf.sub(tf.log(tf.add(pHat, 1e-30)), sHat)), 1);
      d = tf.mul(t * t, tf.add(tf.mul(a, tckd), tf.mul(b, nckd)));
    }
    return tf.div(tf.sum(tf.add(tf.mul(alpha, d), tf.mul(1 - alpha, ce))), n) as tf.Scalar;
  };
  const { value, grad } = tf.valueAndGrad(f)(tf.tensor2d(student));
  return { value: value.dataSync()[0], grad: grad.arraySync() as number[][] };
}

const close = (a: number[][], b: number[][], tolerance: number) => {
  for (let r = 0; r < a.length; r++) for (let c = 0; c < a[r].length; c++) expect(Math.abs(a[r][c] - b[r][c])).toBeLessThan(tolerance);
};

/** Central finite differences of the loss value, in float64 on the inputs' side (the value is computed in float64). */
function finiteDifferences(spec: Parameters<typeof meanLoss>[0]): number[][] {
  const h = 1e-3;
  return student.map((row, r) =>
    row.map((_, c) => {
      const plus = student.map((x) => [...x]);
      const minus = student.map((x) => [...x]);
      plus[r][c] += h;
      minus[r][c] -= h;
      return (computed(spec, plus).value - computed(spec, minus).value) / (2 * h);
    }),
  );
}

describe('distillation losses with hand-written gradients', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const [alpha, t] of [
    [0.9, 4],
    [0.5, 2],
    [1, 1],
  ]) {
    it(`DKD (alpha ${alpha}, T ${t}): value and gradient equal tfjs autodiff of the paper's formula, and finite differences`, () => {
      const spec = { name: 'dkd', temperature: t, alpha, targetWeight: 1, nonTargetWeight: 8 } as const;
      const mine = computed(spec);
      const reference = autodiff('dkd', alpha, t);
      expect(mine.value).toBeCloseTo(reference.value, 4);
      close(mine.grad, reference.grad, 1e-4);
      close(mine.grad, finiteDifferences(spec), 2e-3);
    });

    it(`Hinton KD (alpha ${alpha}, T ${t}): value and gradient equal tfjs autodiff and finite differences`, () => {
      const spec = { name: 'kd', temperature: t, alpha } as const;
      const mine = computed(spec);
      const reference = autodiff('kd', alpha, t);
      expect(mine.value).toBeCloseTo(reference.value, 4);
      close(mine.grad, reference.grad, 1e-5);
      close(mine.grad, finiteDifferences(spec), 2e-3);
    });

    it(`MSE on logits (alpha ${alpha}): value and gradient equal tfjs autodiff and finite differences`, () => {
      const spec = { name: 'mse-logits', alpha } as const;
      const mine = computed(spec);
      const reference = autodiff('mse-logits', alpha, t);
      expect(mine.value).toBeCloseTo(reference.value, 5);
      close(mine.grad, reference.grad, 1e-5);
      close(mine.grad, finiteDifferences(spec), 2e-3);
    });
  }

  it('hand-computed values: MSE of one row, and DKD with equal student and teacher is zero distillation', () => {
    const one = (spec: Parameters<typeof meanLoss>[0], zs: number[], zt: number[], y: number) =>
      meanLoss(spec, { student: tf.tensor2d([zs]), teacher: tf.tensor2d([zt]), labels: tf.tensor1d([y], 'int32') }).dataSync()[0];
    // (1-0)^2 + (2-0)^2 + (0-3)^2 = 14, over 3 classes; alpha 1: no hard term.
    expect(one({ name: 'mse-logits', alpha: 1 }, [1, 2, 0], [0, 0, 3], -1)).toBeCloseTo(14 / 3, 6);
    expect(one({ name: 'dkd', temperature: 3, alpha: 1, targetWeight: 1, nonTargetWeight: 8 }, [0.2, 1, -1], [0.2, 1, -1], 1)).toBeCloseTo(
      0,
      9,
    );
    // Only the hard term: alpha 0 is cross-entropy, -log softmax([0, 0])[0] = log 2.
    expect(one({ name: 'dkd', temperature: 3, alpha: 0, targetWeight: 1, nonTargetWeight: 8 }, [0, 0], [5, -5], 0)).toBeCloseTo(
      Math.log(2),
      6,
    );
  });
});
