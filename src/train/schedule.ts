import { mixSeed, seededPermutation } from '../random.js';
import type { PhasePlan } from './plan.js';

/**
 * Which rows make up each global batch: every epoch is a seeded shuffle of the training rows cut into
 * batches of `batchSize` (the last one may be smaller). Every rank builds the same schedule from the same
 * seed, so no batch list crosses threads, and a run can be resumed from any step.
 */
export class BatchSchedule {
  private readonly stepsPerEpoch: number;
  private readonly batchSize: number;
  private epoch = -1;
  private order = new Int32Array(0);

  /** `rows` are the plan's rows (`plan.rows` of them). */
  constructor(
    private readonly rows: Int32Array,
    plan: Pick<PhasePlan, 'rows' | 'batchSize' | 'stepsPerEpoch'>,
    private readonly seed: number,
  ) {
    if (rows.length !== plan.rows) throw new Error(`BatchSchedule: ${rows.length} rows for a plan of ${plan.rows}`);
    this.stepsPerEpoch = plan.stepsPerEpoch;
    this.batchSize = plan.batchSize;
  }

  /** The epoch (0-based) that global step `step` (0-based) belongs to. */
  epochOf(step: number): number {
    return Math.floor(step / this.stepsPerEpoch);
  }

  /** The row indices of the global batch at `step`. */
  batch(step: number): Int32Array {
    const epoch = this.epochOf(step);
    if (epoch !== this.epoch) {
      const permutation = seededPermutation(this.rows.length, mixSeed(this.seed, epoch));
      this.order = permutation.map((i) => this.rows[i]);
      this.epoch = epoch;
    }
    const start = (step % this.stepsPerEpoch) * this.batchSize;
    return this.order.subarray(start, Math.min(start + this.batchSize, this.order.length));
  }
}

/** The part [start, end) of a batch of `size` rows that rank `rank` of `workers` computes: sizes differ by at most one. */
export function sliceBounds(size: number, workers: number, rank: number): [number, number] {
  return [Math.floor((rank * size) / workers), Math.floor(((rank + 1) * size) / workers)];
}
