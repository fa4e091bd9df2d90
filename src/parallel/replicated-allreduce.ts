import type { AllReduceResult, ReduceLoops } from './allreduce.js';
import { slotStride } from './allreduce.js';
import type { SharedBarrier } from './barrier.js';

/** What crosses to a worker. */
export interface ReplicatedAllReduceHandle {
  /** Two sets of slots, used by alternate exchanges: one slot of `stride` float32 values per rank in each. */
  slots: SharedArrayBuffer;
  /** Per set: a float64 weight per rank, then an Int32 stop request per rank (16 bytes per rank). */
  meta: SharedArrayBuffer;
  length: number;
  stride: number;
}

/**
 * Weighted averaging with one barrier per exchange, for short vectors (small models), where the barriers
 * cost more than the arithmetic: every rank writes its slot, waits once, then sums all of every slot itself,
 * ranks in order, into its own copy of the mean. Element by element that is the sum SharedAllReduce's
 * chunks compute, so both give the same values; each rank then needs the whole mean, which is what a
 * replicated optimizer update wants.
 *
 * Slots and flags alternate between two sets: a rank that runs ahead into the next step writes the other
 * set while a slower rank still reads this one. It cannot get two exchanges ahead, because the next
 * exchange's barrier waits for the slower rank.
 */
export class ReplicatedAllReduce {
  private readonly slots: Float32Array;
  private readonly weights: Float64Array[];
  private readonly stops: Int32Array[];
  private readonly shares: Float64Array;
  /** This rank's copy of the mean. */
  private readonly meanValues: Float32Array;
  private readonly workers: number;
  /** Exchanges this rank has joined: their parity picks the set. Every rank joins every exchange. */
  private exchanges = 0;

  private constructor(
    readonly handle: ReplicatedAllReduceHandle,
    private readonly barrier: SharedBarrier,
    private readonly loops: ReduceLoops,
  ) {
    const workers = (this.workers = barrier.handle.parties);
    this.slots = new Float32Array(handle.slots);
    this.weights = [0, 1].map((set) => new Float64Array(handle.meta, set * workers * 16, workers));
    this.stops = [0, 1].map((set) => new Int32Array(handle.meta, set * workers * 16 + workers * 8, workers));
    this.shares = new Float64Array(workers);
    this.meanValues = new Float32Array(handle.stride);
  }

  /** Buffers for averaging `length` values over the barrier's parties. */
  static create(length: number, barrier: SharedBarrier, loops: ReduceLoops): ReplicatedAllReduce {
    const workers = barrier.handle.parties;
    const stride = slotStride(length);
    const handle: ReplicatedAllReduceHandle = {
      slots: new SharedArrayBuffer(2 * workers * stride * 4),
      meta: new SharedArrayBuffer(2 * workers * 16),
      length,
      stride,
    };
    return new ReplicatedAllReduce(handle, barrier, loops);
  }

  static attach(handle: ReplicatedAllReduceHandle, barrier: SharedBarrier, loops: ReduceLoops): ReplicatedAllReduce {
    return new ReplicatedAllReduce(handle, barrier, loops);
  }

  /** The slot rank `rank` writes its vector into before its next {@link allReduceMean}. */
  slot(rank: number): Float32Array {
    const offset = ((this.exchanges & 1) * this.workers + rank) * this.handle.stride;
    return this.slots.subarray(offset, offset + this.handle.length);
  }

  /**
   * Collective: every rank calls it once per step, after filling {@link slot}. `weight` is the rank's share
   * of the mean (its number of rows; 0 for an empty slice). Returns sum_r(w_r * slot_r) / sum_r(w_r) in this
   * rank's own buffer, valid until its next exchange.
   */
  allReduceMean(rank: number, weight: number, requestStop: boolean, timeoutMs: number): AllReduceResult {
    const { workers } = this;
    const set = this.exchanges & 1;
    const weights = this.weights[set];
    const stops = this.stops[set];
    weights[rank] = weight;
    stops[rank] = requestStop ? 1 : 0;
    const arrived = performance.now();
    this.barrier.arriveAndWait(timeoutMs); // all slots of this set written
    const waitMs = performance.now() - arrived;
    this.exchanges++;

    let total = 0;
    let stop = false;
    for (let r = 0; r < workers; r++) {
      total += weights[r];
      stop ||= stops[r] === 1; // no rank writes this set again before every rank has read it
    }
    for (let r = 0; r < workers; r++) this.shares[r] = total > 0 ? weights[r] / total : 0;
    const slots = this.slots.subarray(set * workers * this.handle.stride);
    const finite = this.loops.weightedSum(slots, this.handle.stride, this.shares, 0, this.handle.length, this.meanValues);
    return { mean: this.meanValues.subarray(0, this.handle.length), stop, finite, waitMs };
  }
}
