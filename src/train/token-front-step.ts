// A text student's forward and backward pass with its embedding front fused (models/token-front.ts): the front
// is one loop over the token ids reading the table from the shared weights, tfjs runs only the layers after it,
// and the table's gradient is added row by row into the slot. The stock graph's embedding lookup, padding
// weights, reshapes and softmax, and their backward kernels, drop out of the step, and so does the dense table
// gradient the stock backward pass builds and copies.
import tf from '../tf.cjs';
import type { SharedDataset } from '../data/shared-dataset.js';
import { type TableView, type TokenRows, tokenFrontLoops } from '../kernels/token-front-loops.js';
import { exchangeLoops } from '../kernels/exchange-loops.js';
import { float32Values, tensorValues } from '../kernels/wasm-heap.js';
import type { TokenFront } from '../models/token-front.js';
import { FUSED_BOUND } from '../parallel/allreduce.js';
import { meanLoss } from './losses.js';
import type { TrainTask } from './replica.js';
import type { BatchTargets, GradientPass } from './replica-step.js';

/**
 * Builds the fused pass of a model whose trainable `variables` include `front.table`. It reads the table from
 * the shared weights (task.optimizer.weights), which every rank's copy of the table would only repeat, and
 * writes what the stock pass writes into `slot`: the flat gradient, then the slice's mean loss.
 */
export function tokenFrontPass(
  task: TrainTask,
  front: TokenFront,
  data: SharedDataset,
  variables: tf.Variable[],
  slot: Float32Array,
  targets: BatchTargets,
): GradientPass {
  const lossIndex = slot.length - 1;
  const tableIndex = variables.indexOf(front.table.read() as tf.Variable);
  const offsets: number[] = []; // where each variable's values start in the flat weights and gradient
  for (let i = 0, offset = 0; i < variables.length; offset += variables[i++].size) offsets.push(offset);
  const { kind, maxLength, width, vocabSize } = front;
  const table: TableView = { values: new Float32Array(task.optimizer.weights), offset: offsets[tableIndex], vocabSize, width };
  const perRow = kind === 'mean' ? width : maxLength * width;
  const maxRows = task.plan.maxRowsPerRank;
  const features = new Float32Array(maxRows * maxLength);
  const frontValues = new Float32Array(maxRows * perRow);
  const headVariables = variables.filter((_, i) => i !== tableIndex);
  // The table's gradient is added row by row into a buffer of its own, then copied into the slot with the
  // exchange's bound check (the other gradients are checked as they are copied).
  const gradient: TableView = { values: new Float32Array(vocabSize * width), offset: 0, vocabSize, width };
  return (batch, start, end) =>
    tf.tidy(() => {
      const n = end - start;
      const loops = tokenFrontLoops(); // the thread's, as its kernels were chosen
      const tokens: TokenRows = { ids: data.gatherFeatures(batch, start, end, features), rows: n, maxLength };
      if (kind === 'mean') loops.meanOfRealTokens(table, tokens, frontValues);
      else loops.realTokenRows(table, tokens, frontValues);
      const frontTensor = tf.tensor(frontValues.subarray(0, n * perRow), kind === 'mean' ? [n, width] : [n, maxLength, width]);
      const ids = kind === 'rows' ? tf.tensor(tokens.ids, [n, maxLength]) : undefined;
      const { labels, teacher } = targets(batch, start, end);
      const { value, grads } = tf
        .engine()
        .gradients(
          () => meanLoss(task.loss, { student: front.head(frontTensor, ids), teacher, labels }),
          [frontTensor, ...headVariables],
          undefined,
          true,
        );
      const exchange = exchangeLoops();
      let bounded = true;
      let head = 1; // grads[0] is the front's
      for (let i = 0; i < variables.length; i++) {
        const offset = offsets[i];
        if (i === tableIndex) continue;
        const grad = grads[head++]; // absent when the loss does not depend on the variable
        if (grad) bounded = exchange.copyBounded(tensorValues(grad), slot, offset, FUSED_BOUND) && bounded;
        else slot.fill(0, offset, offset + variables[i].size);
      }
      // The table's gradient last: the view of the front's gradient is valid until the next tensor is made.
      gradient.values.fill(0);
      const dFront = grads[0] && float32Values(grads[0]); // absent when the loss does not depend on the front
      if (dFront && kind === 'mean') loops.addMeanGradient(gradient, tokens, dFront);
      else if (dFront) loops.addRowsGradient(gradient, tokens, dFront);
      bounded = exchange.copyBounded(gradient.values, slot, table.offset, FUSED_BOUND) && bounded;
      slot[lossIndex] = value.dataSync()[0];
      return bounded && Math.abs(slot[lossIndex]) <= FUSED_BOUND;
    });
}
