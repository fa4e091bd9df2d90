// A cnn1d student's forward and backward pass without tfjs's tape (models/token-conv.ts recognises the
// student): its front, from the token ids to each row's maximum per filter, in one call of the front's loops
// (kernels/token-conv-loops.ts), the dense layers after it on the dense chain's loops, and only the loss in
// tfjs, on the logits [rows, classes]. Backward, the dense chain's pass gives the maxima's gradient and the
// front's pass sends it to the positions holding them; every gradient is written straight into this rank's
// exchange slot, every weight read straight from the shared weights, and every buffer reused from step to
// step. The replica's variables are loaded from the shared weights only when something reads the model
// (ShardUpdate.syncModel).
import type * as tf from '@tensorflow/tfjs';
import type { SharedDataset } from '../data/shared-dataset.js';
import { TokenConvBuffers, type TokenConvLayout, type TokenConvStudentLoops } from '../kernels/token-conv-loops.js';
import type { TokenConv } from '../models/token-conv.js';
import { FUSED_BOUND } from '../parallel/allreduce.js';
import {
  DenseChainBuffers,
  chainWeights,
  denseChainGradient,
  denseLayerViews,
  sliceLoss,
  weightOffsets,
  weightsAreVariables,
} from './dense-chain-step.js';
import type { TrainTask } from './replica.js';
import type { BatchTargets, GradientPass } from './replica-step.js';

/** Whether the student's weights (table, filters, bias, dense layers) are every one of `variables`, so that the pass writes the whole gradient. */
export function tokenConvCoversVariables(conv: TokenConv, variables: tf.Variable[]): boolean {
  return weightsAreVariables([conv.table, conv.kernel, conv.bias, ...chainWeights(conv.head)], variables);
}

/** Where the student's front lies in the flat weights (and gradient) of `variables`. */
export function tokenConvLayout(conv: TokenConv, variables: tf.Variable[]): TokenConvLayout {
  const offsetOf = weightOffsets(variables);
  const { vocabSize, width, kernelSize, filters, maxLength } = conv;
  return {
    tableOffset: offsetOf(conv.table),
    vocabSize,
    width,
    kernelOffset: offsetOf(conv.kernel),
    biasOffset: offsetOf(conv.bias),
    kernelSize,
    filters,
    maxLength,
  };
}

/**
 * Builds the pass of `conv`, whose weights are all of `variables`: it reads them from the shared weights
 * (task.optimizer.weights) and writes what the stock pass writes into `slot`: the flat gradient, then the
 * slice's mean loss.
 */
export function tokenConvPass(
  task: TrainTask,
  conv: TokenConv,
  loops: TokenConvStudentLoops,
  data: SharedDataset,
  variables: tf.Variable[],
  slot: Float32Array,
  targets: BatchTargets,
): GradientPass {
  const weights = new Float32Array(task.optimizer.weights);
  const maxRows = task.plan.maxRowsPerRank;
  const buffers = new TokenConvBuffers(tokenConvLayout(conv, variables), maxRows);
  const head = denseLayerViews(conv.head, variables);
  const headBuffers = new DenseChainBuffers(head, maxRows);
  const features = new Float32Array(maxRows * conv.maxLength);
  const dPooled = new Float32Array(maxRows * conv.filters);
  const classes = head[head.length - 1].units;
  return (batch, start, end) => {
    const n = end - start;
    const ids = data.gatherFeatures(batch, start, end, features);
    loops.conv.forward(weights, ids, n, buffers);
    const lossOf = sliceLoss(task, targets, classes, batch, start, end);
    const { loss, bounded } = denseChainGradient(head, loops.dense, headBuffers, buffers.pooled, n, weights, slot, lossOf, dPooled);
    const frontBounded = loops.conv.backward(weights, ids, n, buffers, dPooled, slot, FUSED_BOUND);
    slot[slot.length - 1] = loss;
    return bounded && frontBounded;
  };
}
