import { type LossEntry, numberAtLeast } from './loss-entry.js';
import { addCrossEntropy, logSoftmax, meanOfRows } from './row-loss.js';

export interface DkdSpec {
  name: 'dkd';
  temperature: number;
  alpha: number;
  targetWeight: number;
  nonTargetWeight: number;
}

/** Probabilities are kept this far from 0 and 1 where DKD divides by them. */
const EPSILON = 1e-12;

/**
 * Decoupled KD (Zhao et al., CVPR 2022): D = T^2 * (targetWeight * TCKD + nonTargetWeight * NCKD); the target
 * class is the row's label, or the teacher's top class on an unlabeled row. With s = softmax(zs / T),
 * t = softmax(zt / T) and target g: TCKD is the KL divergence of the binary target / non-target split,
 * [t_g, 1 - t_g] against [s_g, 1 - s_g]; NCKD the KL divergence of the distributions over the other classes
 * alone. Their gradients with respect to zs are (1 / T) * (s_g - t_g) / (1 - s_g) * (onehot(g) - s) and
 * (1 / T) * (s^ - t^) off the target.
 */
export const dkdLoss: LossEntry<DkdSpec> = {
  name: 'dkd',
  description: 'decoupled KD: weighted target-class and non-target-class KL terms',
  usesTemperature: true,
  usesTeacher: true,
  parameters: {
    targetWeight: numberAtLeast(0, 'weight of the target-class term (TCKD)', 1),
    nonTargetWeight: numberAtLeast(0, 'weight of the non-target-class term (NCKD)', 8),
  },
  meanLoss: meanOfRows<DkdSpec>((row, { temperature: t, alpha, targetWeight, nonTargetWeight }, grad) => {
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
  }),
};
