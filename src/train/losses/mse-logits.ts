import type { LossEntry } from './loss-entry.js';
import { addCrossEntropy, meanOfRows } from './row-loss.js';

export interface MseLogitsSpec {
  name: 'mse-logits';
  alpha: number;
}

/** alpha * mean_c (zs - zt)^2 + (1 - alpha) * CE: regression on the logits themselves, no temperature. */
export const mseLogitsLoss: LossEntry<MseLogitsSpec> = {
  name: 'mse-logits',
  description: "mean squared error between the student's and the teacher's logits (no temperature)",
  usesTemperature: false,
  usesTeacher: true,
  parameters: {},
  meanLoss: meanOfRows<MseLogitsSpec>((row, { alpha }, grad) => {
    const classes = row.student.length;
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const diff = row.student[c] - row.teacher![c];
      sum += diff * diff;
      grad[c] = (alpha * 2 * diff) / classes;
    }
    return (alpha * sum) / classes + addCrossEntropy(row, 1 - alpha, grad, new Float64Array(classes));
  }),
};
