import type { LossEntry } from './loss-entry.js';
import { addCrossEntropy, meanOfRows } from './row-loss.js';

export interface HardSpec {
  name: 'hard';
}

/** Plain cross-entropy on the labels: teacher training and the baseline. */
export const hardLoss: LossEntry<HardSpec> = {
  name: 'hard',
  description: 'cross-entropy on the hard labels alone (teacher training and the baseline)',
  usesTemperature: false,
  usesTeacher: false,
  parameters: {},
  meanLoss: meanOfRows<HardSpec>((row, _spec, grad) => {
    grad.fill(0);
    return addCrossEntropy(row, 1, grad, new Float64Array(row.student.length));
  }),
};
