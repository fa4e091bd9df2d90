// Validation inside a training phase: each replica evaluates its share of the held-out rows after an epoch,
// and rank 0 selects the epoch to keep and decides whether to stop early.
import tf from '../tf.cjs';
import type { SharedDataset } from '../data/shared-dataset.js';
import { modelToData } from '../models/model-data.js';
import type { ValidationMetrics } from '../progress.js';
import type { SelectionState } from './checkpoint.js';
import type { TrainTask, ValidationTask } from './replica.js';
import { sliceBounds } from './schedule.js';
import { readAndDispose } from '../tensor-values.js';

/** Rows per forward pass when validating. */
const VALIDATION_BATCH = 256;

/**
 * Evaluates the replica on its share of the held-out rows (every replica holds the same weights), then,
 * after a barrier, sums every rank's partial sums in rank order: every rank gets the same metrics.
 */
function validationRunner(
  validation: ValidationTask,
  model: tf.LayersModel,
  data: SharedDataset,
  inputShape: number[],
  rank: number,
  workers: number,
): (waitForAll: () => void) => Promise<ValidationMetrics> {
  const rows = new Int32Array(validation.rows);
  const teacher = validation.teacherPredictions && new Int32Array(validation.teacherPredictions);
  const partials = new Float64Array(validation.scratch, 0, workers * 3);
  const [first, last] = sliceBounds(rows.length, workers, rank);
  const features = new Float32Array(VALIDATION_BATCH * data.rowSize);
  const labels = new Int32Array(VALIDATION_BATCH);
  return async (waitForAll) => {
    let lossSum = 0;
    let hits = 0;
    let agreements = 0;
    for (let start = first; start < last; start += VALIDATION_BATCH) {
      const end = Math.min(start + VALIDATION_BATCH, last);
      const n = end - start;
      const logits = readAndDispose(
        tf.tidy(() => {
          const x = tf.tensor(data.gatherFeatures(rows, start, end, features), [n, ...inputShape]);
          return model.apply(x, { training: false }) as tf.Tensor;
        }),
      );
      data.gatherLabels(rows, start, end, labels);
      const classes = logits.length / n;
      for (let r = 0; r < n; r++) {
        const row = logits.subarray(r * classes, (r + 1) * classes);
        let top = 0;
        let max = -Infinity;
        for (let c = 0; c < classes; c++) if (row[c] > max) [max, top] = [row[c], c];
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += Math.exp(row[c] - max);
        lossSum += max + Math.log(sum) - row[labels[r]];
        if (top === labels[r]) hits++;
        if (teacher && top === teacher[start + r]) agreements++;
      }
    }
    partials.set([lossSum, hits, agreements], rank * 3);
    waitForAll();
    const total = [0, 0, 0];
    for (let r = 0; r < workers; r++) for (let k = 0; k < 3; k++) total[k] += partials[r * 3 + k];
    return {
      loss: total[0] / rows.length,
      accuracy: total[1] / rows.length,
      ...(teacher && { agreement: total[2] / rows.length }),
    };
  };
}

/** Per-epoch validation of one replica, and the selection of the epoch to keep (decided by rank 0). */
export class EpochSelection {
  state: SelectionState;
  /** The best epoch's weights, when the phase keeps the best (rank 0). */
  bestWeights: ArrayBuffer | undefined;
  private readonly validate: (waitForAll: () => void) => Promise<ValidationMetrics>;
  /** Rank 0's decision, after every rank's partial sums: 1 to stop early. */
  private readonly decision: Int32Array;

  constructor(
    private readonly validation: ValidationTask,
    private readonly model: tf.LayersModel,
    data: SharedDataset,
    inputShape: number[],
    private readonly task: TrainTask,
  ) {
    this.state = task.resume?.selection ?? { bestEpoch: 0, bestValue: Number.NaN, epochsSinceBest: 0, stopped: false };
    this.bestWeights = task.resume?.bestWeights;
    this.validate = validationRunner(validation, model, data, inputShape, task.rank, task.plan.workers);
    this.decision = new Int32Array(validation.scratch, task.plan.workers * 3 * 8, 1);
  }

  /**
   * Validates epoch `epoch` (collective: every rank calls it), then updates the selection. Rank 0 decides,
   * once, from the metrics every rank computed alike; the others read its decision. `stepsLeft`: whether the
   * phase has steps after this epoch (stopping early needs some).
   */
  async afterEpoch(epoch: number, stepsLeft: boolean, waitForAll: () => void): Promise<ValidationMetrics> {
    const metrics = await this.validate(waitForAll);
    const { validation } = this;
    if (this.task.rank === 0) {
      const value = metrics[validation.metric];
      const selection = this.state;
      const better =
        Number.isNaN(selection.bestValue) || (validation.metric === 'accuracy' ? value > selection.bestValue : value < selection.bestValue);
      this.state = better
        ? { ...selection, bestEpoch: epoch, bestValue: value, epochsSinceBest: 0 }
        : { ...selection, epochsSinceBest: selection.epochsSinceBest + 1 };
      if (better && validation.keep === 'best') this.bestWeights = (await modelToData(this.model)).weights;
      const patience = validation.earlyStopping?.patience;
      this.state.stopped = patience !== undefined && this.state.epochsSinceBest >= patience && stepsLeft;
      Atomics.store(this.decision, 0, this.state.stopped ? 1 : 0);
    }
    waitForAll(); // the decision is written
    if (Atomics.load(this.decision, 0) === 1) this.state.stopped = true;
    return metrics;
  }
}
