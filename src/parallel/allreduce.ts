import type { SharedBarrier } from './barrier.js';

/**
 * out[i] = sum_r shares[r] * slots[r * stride + i] for i in [lo, hi), ranks in order; returns whether every
 * out[i] is finite. The caller picks the implementation (JavaScript or native, see kernels/exchange-loops).
 */
export type WeightedSum = (slots: Float32Array, stride: number, shares: Float64Array, lo: number, hi: number, out: Float32Array) => boolean;

/** The loops an exchange runs (kernels/exchange-loops' ExchangeLoops has both). */
export interface ReduceLoops {
  weightedSum: WeightedSum;
  /** Whether every values[i], i in [lo, hi), is finite. */
  allFinite(values: Float32Array, lo: number, hi: number): boolean;
}

/** Averages the ranks' slots over `range` with `shares` (as WeightedSum) and applies the step's update to them. */
export type ChunkUpdate = (slots: Float32Array, stride: number, shares: Float64Array, range: [number, number]) => void;

/**
 * allReduceUpdate's bound on every slot value: half the float32 range. A weighted mean (shares summing to
 * 1, each product and sum rounded) of values within it stays below 2^128, so it is finite.
 */
export const FUSED_BOUND = 2 ** 127;

/** What crosses to a worker. */
export interface AllReduceHandle {
  /** One slot of `stride` float32 values per rank. */
  slots: SharedArrayBuffer;
  /** The weighted mean, `length` float32 values. */
  mean: SharedArrayBuffer;
  /**
   * Float64 weight per rank, then Int32 flags per rank: a stop request, "chunk finite", "slot bounded"
   * (allReduceUpdate's).
   */
  meta: SharedArrayBuffer;
  length: number;
  stride: number;
}

/** What every rank gets back from one exchange. */
export interface AllReduceResult {
  /** The weighted mean of all ranks' slots (a shared view, valid until the next exchange). */
  mean: Float32Array;
  /** True if any rank asked to stop at this step: all ranks see the same answer. */
  stop: boolean;
  /** True if every value of the mean is finite (no NaN or Infinity): all ranks see the same answer. */
  finite: boolean;
  /**
   * Milliseconds this rank spent at the first barrier, waiting for the other ranks' slots: load imbalance
   * between the ranks, not work of the exchange.
   */
  waitMs: number;
}

// Slots and chunks start on 64-byte boundaries, so no two ranks write the same cache line.
const FLOATS_PER_LINE = 16;
const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * Weighted averaging of one float vector per rank, in shared memory (reduce-scatter):
 * each rank writes its vector into its slot; after a barrier, rank r averages chunk r of the vector across
 * all slots into the shared mean; after a second barrier every rank reads the whole mean. The sum runs
 * over ranks in order, so the result is the same on every rank and in every run.
 */
export class SharedAllReduce {
  private readonly slots: Float32Array;
  private readonly meanValues: Float32Array;
  private readonly weights: Float64Array;
  private readonly stops: Int32Array;
  private readonly finiteChunks: Int32Array;
  private readonly boundedSlots: Int32Array;
  /** Each rank's share of the mean at the current exchange. */
  private readonly shares: Float64Array;
  /** The ranks: the barrier's parties, the one place the worker count is kept. */
  private readonly workers: number;

  private constructor(
    readonly handle: AllReduceHandle,
    private readonly barrier: SharedBarrier,
    private readonly loops: ReduceLoops,
  ) {
    const workers = (this.workers = barrier.handle.parties);
    this.slots = new Float32Array(handle.slots);
    this.meanValues = new Float32Array(handle.mean);
    this.weights = new Float64Array(handle.meta, 0, workers);
    this.stops = new Int32Array(handle.meta, workers * 8, workers);
    this.finiteChunks = new Int32Array(handle.meta, workers * 12, workers);
    this.boundedSlots = new Int32Array(handle.meta, workers * 16, workers);
    this.shares = new Float64Array(workers);
  }

  /** Buffers for averaging `length` values over the barrier's parties. */
  static create(length: number, barrier: SharedBarrier, loops: ReduceLoops): SharedAllReduce {
    const workers = barrier.handle.parties;
    const stride = roundUp(Math.max(length, 1), FLOATS_PER_LINE);
    const handle: AllReduceHandle = {
      slots: new SharedArrayBuffer(stride * workers * 4),
      mean: new SharedArrayBuffer(stride * 4),
      meta: new SharedArrayBuffer(workers * 20),
      length,
      stride,
    };
    return new SharedAllReduce(handle, barrier, loops);
  }

  static attach(handle: AllReduceHandle, barrier: SharedBarrier, loops: ReduceLoops): SharedAllReduce {
    return new SharedAllReduce(handle, barrier, loops);
  }

  /** The slot rank `rank` writes its vector into before calling {@link allReduceMean}. */
  slot(rank: number): Float32Array {
    return this.slots.subarray(rank * this.handle.stride, rank * this.handle.stride + this.handle.length);
  }

  /** The part of the vector rank `rank` reduces: equal, cache-line aligned chunks. */
  chunk(rank: number): [number, number] {
    const size = roundUp(Math.ceil(this.handle.length / this.workers), FLOATS_PER_LINE);
    return [Math.min(rank * size, this.handle.length), Math.min((rank + 1) * size, this.handle.length)];
  }

  /**
   * Collective: every rank calls it once per step, after filling its slot. `weight` is the rank's share
   * of the mean (its number of rows; 0 for an empty slice). Returns sum_r(w_r * slot_r) / sum_r(w_r).
   * With one rank that mean is the slot itself (1 * x is x, bit for bit): it is returned as it is, checked
   * for finiteness, with no copy and no barrier; it stays valid until the slot is written again.
   */
  allReduceMean(rank: number, weight: number, requestStop: boolean, timeoutMs: number): AllReduceResult {
    const { workers } = this;
    if (workers === 1) {
      const slot = this.slot(0);
      if (weight === 0) slot.fill(0); // as the sum's: zeros when no rank has rows
      return { mean: slot, stop: requestStop, finite: this.loops.allFinite(slot, 0, slot.length), waitMs: 0 };
    }
    const { stop, waitMs } = this.gather(rank, weight, requestStop, timeoutMs);
    const [lo, hi] = this.chunk(rank);
    const chunkFinite = this.loops.weightedSum(this.slots, this.handle.stride, this.shares, lo, hi, this.meanValues);
    const finite = this.finish(rank, chunkFinite, timeoutMs);
    return { mean: this.meanValues.subarray(0, this.handle.length), stop, finite, waitMs };
  }

  /**
   * Collective, as {@link allReduceMean}, for a step whose update can run in the pass that averages
   * (ExchangeLoops.averagedUpdate): `bounded` says whether every value of this rank's slot is within
   * {@link FUSED_BOUND}. When every rank's is, the mean is finite without looking at it, so each rank
   * averages and updates its chunk of the first `updated` values in one pass (`update`) and the second
   * barrier is where every chunk is updated: one barrier and one pass fewer than allReduceMean and then an
   * update. The rest of the vector (the loss) is averaged into the shared mean either way. When some slot is
   * not bounded, it is allReduceMean, and `applied` is false: the caller updates from the mean as before.
   */
  allReduceUpdate(
    rank: number,
    weight: number,
    requestStop: boolean,
    timeoutMs: number,
    bounded: boolean,
    updated: number,
    update: ChunkUpdate,
  ): AllReduceResult & { applied: boolean; updateMs: number } {
    this.boundedSlots[rank] = bounded ? 1 : 0;
    const { stop, waitMs } = this.gather(rank, weight, requestStop, timeoutMs);
    let applied = true;
    for (let r = 0; r < this.workers; r++) applied &&= this.boundedSlots[r] === 1; // read between the barriers
    const [lo, hi] = this.chunk(rank);
    const split = applied ? Math.min(Math.max(updated, lo), hi) : lo;
    const updateStart = performance.now();
    if (lo < split) update(this.slots, this.handle.stride, this.shares, [lo, split]);
    const updateMs = performance.now() - updateStart;
    const chunkFinite = this.loops.weightedSum(this.slots, this.handle.stride, this.shares, split, hi, this.meanValues);
    const finite = this.finish(rank, chunkFinite, timeoutMs);
    return { mean: this.meanValues.subarray(0, this.handle.length), stop, finite, waitMs, applied, updateMs };
  }

  /**
   * The first half of an exchange: publishes this rank's weight and stop request, waits for every slot,
   * then sets every rank's share of the mean. Returns whether any rank asked to stop, and the wait.
   */
  private gather(rank: number, weight: number, requestStop: boolean, timeoutMs: number): { stop: boolean; waitMs: number } {
    const { workers } = this;
    this.weights[rank] = weight;
    this.stops[rank] = requestStop ? 1 : 0;
    const arrived = performance.now();
    this.barrier.arriveAndWait(timeoutMs); // all slots written
    const waitMs = performance.now() - arrived;
    let total = 0;
    let stop = false;
    for (let r = 0; r < workers; r++) {
      total += this.weights[r];
      stop ||= this.stops[r] === 1; // read between the barriers: no rank can change it now
    }
    for (let r = 0; r < workers; r++) this.shares[r] = total > 0 ? this.weights[r] / total : 0;
    return { stop, waitMs };
  }

  /** The second half: publishes whether this rank's chunk is finite, waits for every chunk, returns whether all are. */
  private finish(rank: number, chunkFinite: boolean, timeoutMs: number): boolean {
    this.finiteChunks[rank] = chunkFinite ? 1 : 0;
    this.barrier.arriveAndWait(timeoutMs); // all chunks reduced
    // Read before the next exchange: no rank can write its flag again until every rank has arrived there.
    let finite = true;
    for (let r = 0; r < this.workers; r++) finite &&= this.finiteChunks[r] === 1;
    return finite;
  }
}
