import type * as tf from '@tensorflow/tfjs';
import type { LossInputs } from './losses/loss-entry.js';
import { type LossSpec, lossEntry } from './losses/registry.js';

/**
 * Training objectives. Every distillation loss is `alpha * D + (1 - alpha) * CE(label)`, the hard-label
 * term on labelled rows only; each loss is one file in losses/, registered in losses/registry.ts, which
 * `listLosses()` lists: kd, dkd, mse-logits, custom (a module of your own) and hard (plain cross-entropy,
 * for teacher training and the baseline).
 */
export type { CustomLossFunction } from './losses/custom.js';
export type { LossInputs } from './losses/loss-entry.js';
export { lossOptionProblem, lossSpecOf } from './losses/loss-option.js';
export {
  DISTILLATION_LOSSES,
  type DistillationLossName,
  type LossListing,
  type LossOption,
  type LossSpec,
  listLosses,
} from './losses/registry.js';

/** Readies a loss in this thread (a custom loss imports its module); call it before the first {@link meanLoss} with it. */
export async function prepareLoss(spec: LossSpec): Promise<void> {
  await lossEntry(spec.name).prepare?.(spec);
}

/** The mean loss over the rows of one slice, differentiable with respect to the student's logits. */
export function meanLoss(spec: LossSpec, inputs: LossInputs): tf.Scalar {
  return lossEntry(spec.name).meanLoss(spec, inputs);
}
