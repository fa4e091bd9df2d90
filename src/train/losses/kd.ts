import type { LossEntry } from './loss-entry.js';
import { addCrossEntropy, logSoftmax, meanOfRows } from './row-loss.js';

export interface KdSpec {
  name: 'kd';
  temperature: number;
  alpha: number;
}

/**
 * Hinton et al.'s KD: alpha * T^2 * KL(softmax(zt/T) || softmax(zs/T)) + (1 - alpha) * CE(y, softmax(zs));
 * unlabeled rows keep the first term only. T^2 keeps the soft term's gradient, alpha * T * (softmax(zs/T) -
 * softmax(zt/T)), independent of T in scale.
 */
export const kdLoss: LossEntry<KdSpec> = {
  name: 'kd',
  description: "Hinton's knowledge distillation: T^2 * KL divergence of the softened teacher and student outputs",
  usesTemperature: true,
  usesTeacher: true,
  parameters: {},
  meanLoss: meanOfRows<KdSpec>((row, { temperature: t, alpha }, grad) => {
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
  }),
};
