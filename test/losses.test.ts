import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { meanLoss } from '../dist/train/losses.js';

// Reference maths in plain float64 JavaScript, written from the formulas, independent of tfjs.
const softmax = (z: number[], t = 1) => {
  const m = Math.max(...z.map((v) => v / t));
  const e = z.map((v) => Math.exp(v / t - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const kl = (p: number[], q: number[]) => p.reduce((sum, pi, i) => sum + pi * Math.log(pi / q[i]), 0);

function referenceKd(zs: number[][], zt: number[][], labels: number[], t: number, alpha: number) {
  const rows = zs.map((s, r) => {
    const soft = alpha * t * t * kl(softmax(zt[r], t), softmax(s, t));
    const hard = labels[r] >= 0 ? -(1 - alpha) * Math.log(softmax(s)[labels[r]]) : 0;
    return soft + hard;
  });
  return rows.reduce((a, b) => a + b, 0) / rows.length;
}

// d loss / d zs for one row: alpha*T*(softmax(zs/T) - softmax(zt/T)) + (1-alpha)*(softmax(zs) - onehot(y)), / n.
function referenceKdGradient(zs: number[][], zt: number[][], labels: number[], t: number, alpha: number) {
  return zs.map((s, r) => {
    const ps = softmax(s, t);
    const pt = softmax(zt[r], t);
    const p = softmax(s);
    return s.map((_, k) => {
      const soft = alpha * t * (ps[k] - pt[k]);
      const hard = labels[r] >= 0 ? (1 - alpha) * (p[k] - (k === labels[r] ? 1 : 0)) : 0;
      return (soft + hard) / zs.length;
    });
  });
}

const student = [
  [1.0, 2.0, 0.5],
  [-1.0, 0.3, 2.2],
  [0.0, 0.0, 0.0],
];
const teacher = [
  [2.0, 0.0, 1.0],
  [0.5, -0.5, 3.0],
  [1.5, 0.2, -2.0],
];
const labels = [1, 2, -1]; // the last row is unlabeled: distillation term only

function tfKd(zs: number[][], zt: number[][], y: number[], temperature: number, alpha: number) {
  const spec = { name: 'kd', temperature, alpha } as const;
  const t = tf.tensor2d(zt);
  const l = tf.tensor1d(y, 'int32');
  const { value, grad } = tf.valueAndGrad((s: tf.Tensor) => meanLoss(spec, { student: s as tf.Tensor2D, teacher: t, labels: l }))(
    tf.tensor2d(zs),
  );
  return { value: value.dataSync()[0], grad: grad.arraySync() as number[][] };
}

describe('Hinton KD loss', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const [temperature, alpha] of [
    [4, 0.9],
    [1, 0.5],
    [2.5, 0],
    [3, 1],
  ]) {
    it(`matches the formula and its gradient at T=${temperature}, alpha=${alpha}`, () => {
      const { value, grad } = tfKd(student, teacher, labels, temperature, alpha);
      expect(value).toBeCloseTo(referenceKd(student, teacher, labels, temperature, alpha), 5);
      const expected = referenceKdGradient(student, teacher, labels, temperature, alpha);
      grad.forEach((row, r) => row.forEach((g, k) => expect(g).toBeCloseTo(expected[r][k], 5)));
    });
  }

  it('a hand-worked case: identical logits leave only the hard term', () => {
    // softmax([0, ln 3]) = [0.25, 0.75]; label 1, so CE = -ln 0.75 and KL = 0.
    const z = [[0, Math.log(3)]];
    const { value, grad } = tfKd(z, z, [1], 2, 0.25);
    expect(value).toBeCloseTo(0.75 * -Math.log(0.75), 6);
    expect(grad[0][0]).toBeCloseTo(0.75 * 0.25, 6);
    expect(grad[0][1]).toBeCloseTo(0.75 * (0.75 - 1), 6);
  });

  it('stays finite for huge logits (log-softmax, no overflow)', () => {
    const { value, grad } = tfKd([[1000, -1000, 0]], [[-1000, 1000, 0]], [0], 1, 0.5);
    expect(Number.isFinite(value)).toBe(true);
    expect(value).toBeGreaterThan(900);
    expect(grad.flat().every(Number.isFinite)).toBe(true);
  });

  it('hard loss is the mean cross-entropy of the labels', () => {
    const l = meanLoss({ name: 'hard' }, { student: tf.tensor2d(student.slice(0, 2)), labels: tf.tensor1d([1, 2], 'int32') });
    const expected = (-Math.log(softmax(student[0])[1]) - Math.log(softmax(student[1])[2])) / 2;
    expect(l.dataSync()[0]).toBeCloseTo(expected, 5);
  });
});
