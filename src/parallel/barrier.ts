import { DistillError } from '../errors.js';

/** What crosses to a worker. */
export interface BarrierHandle {
  buffer: SharedArrayBuffer;
  parties: number;
}

/**
 * The message of the error every waiting rank throws once the barrier is aborted. The cause is reported
 * by whoever aborted it; the pool recognises these by message, since error classes do not cross threads.
 */
export const BARRIER_ABORTED = 'tfjs-distill: barrier aborted because another rank failed';

const aborted = () => new Error(BARRIER_ABORTED);

// Int32 words of the shared buffer.
const ARRIVED = 0; // ranks arrived in the current generation
const GENERATION = 1; // bumped by the last arrival; waiters sleep on it
const ABORTED = 2; // 1 once any rank or the coordinator gave up

/**
 * A reusable barrier for threads sharing memory. Waiters sleep in Atomics.wait (no spinning) until the last
 * rank arrives. Any thread, the coordinator included, can abort it: every waiter then throws at once,
 * so one failed rank never leaves the others waiting forever.
 */
export class SharedBarrier {
  private readonly state: Int32Array;

  private constructor(readonly handle: BarrierHandle) {
    this.state = new Int32Array(handle.buffer);
  }

  static create(parties: number): SharedBarrier {
    return new SharedBarrier({ buffer: new SharedArrayBuffer(3 * 4), parties });
  }

  static attach(handle: BarrierHandle): SharedBarrier {
    return new SharedBarrier(handle);
  }

  get aborted(): boolean {
    return Atomics.load(this.state, ABORTED) === 1;
  }

  /**
   * Blocks until all parties have arrived. Throws (BARRIER_ABORTED) if the barrier is or becomes
   * aborted, and aborts it (then throws) if the others do not arrive within `timeoutMs`.
   */
  arriveAndWait(timeoutMs: number): void {
    const s = this.state;
    const generation = Atomics.load(s, GENERATION);
    if (this.aborted) throw aborted();
    if (Atomics.add(s, ARRIVED, 1) === this.handle.parties - 1) {
      Atomics.store(s, ARRIVED, 0); // reset before release, so the next generation counts from zero
      Atomics.add(s, GENERATION, 1);
      Atomics.notify(s, GENERATION);
      return;
    }
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(s, GENERATION) === generation) {
      if (this.aborted) throw aborted();
      const remaining = deadline - Date.now();
      if (remaining <= 0 || Atomics.wait(s, GENERATION, generation, remaining) === 'timed-out') {
        this.abort();
        throw new DistillError(
          `a worker did not reach the synchronisation barrier within ${Math.round(timeoutMs / 1000)} s; the pool was stopped`,
        );
      }
    }
    if (this.aborted) throw aborted();
  }

  /** Wakes every waiter, which throws BARRIER_ABORTED; later arrivals throw too. */
  abort(): void {
    Atomics.store(this.state, ABORTED, 1);
    Atomics.notify(this.state, GENERATION);
  }
}
