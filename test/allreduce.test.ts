import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { javascriptLoops } from '../dist/kernels/exchange-loops.js';
import { SharedAllReduce } from '../dist/parallel/allreduce.js';
import { BARRIER_ABORTED, SharedBarrier } from '../dist/parallel/barrier.js';

const WORKER = new URL('./fixtures/allreduce-worker.mjs', import.meta.url);

type Reply = { results?: { mean: number[]; stop: boolean; waitMs: number }[]; error?: string };

async function runRanks(
  workers: number,
  length: number,
  weights: number[],
  options: { rounds?: number; stopAt?: number; failAt?: number[]; lateMs?: number[] } = {},
): Promise<Reply[]> {
  const barrier = SharedBarrier.create(workers);
  const allReduce = SharedAllReduce.create(length, barrier, javascriptLoops);
  const rounds = options.rounds ?? 3;
  return Promise.all(
    Array.from({ length: workers }, (_, rank) => {
      const worker = new Worker(WORKER, {
        workerData: {
          handle: allReduce.handle,
          barrier: barrier.handle,
          rank,
          rounds,
          weights,
          stopAt: options.stopAt,
          failAt: options.failAt?.[rank],
          lateMs: options.lateMs,
        },
      });
      return new Promise<Reply>((resolve, reject) => {
        worker.once('message', (reply: Reply) => {
          void worker.terminate();
          resolve(reply);
        });
        worker.once('error', reject);
      });
    }),
  );
}

// What every rank should get: sum_r w_r * v_r / sum_r w_r, in float64.
function expectedMean(workers: number, length: number, weights: number[], round: number): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return Array.from({ length }, (_, i) => {
    let sum = 0;
    for (let r = 0; r < workers; r++) sum += weights[r] * Math.fround(Math.sin(r * 7.1 + round * 1.3 + i * 0.37) * (r + 1));
    return sum / total;
  });
}

describe('allReduceMean in real worker threads', () => {
  const cases: [number, number[]][] = [
    [1, [5]],
    [2, [64, 64]],
    [2, [3, 61]],
    [3, [42, 43, 43]],
    [4, [1, 0, 7, 100]], // a rank with an empty slice contributes nothing
  ];
  for (const [workers, weights] of cases) {
    it(`W=${workers}, weights [${weights}]: every rank gets the weighted mean`, async () => {
      const length = 1000 + workers; // not a multiple of the 16-float chunk alignment
      const replies = await runRanks(workers, length, weights);
      for (let round = 0; round < 3; round++) {
        const expected = expectedMean(workers, length, weights, round);
        const first = replies[0].results![round].mean;
        for (const reply of replies) {
          expect(reply.error).toBeUndefined();
          expect(reply.results![round].mean).toEqual(first); // identical bits on every rank
        }
        const worst = Math.max(...first.map((v, i) => Math.abs(v - expected[i])));
        expect(worst).toBeLessThan(1e-5);
      }
    });
  }

  it('a stop requested by one rank is seen by every rank at the same round', async () => {
    const replies = await runRanks(3, 40, [1, 1, 1], { rounds: 3, stopAt: 1 });
    for (const reply of replies) expect(reply.results!.map((r) => r.stop)).toEqual([false, true, false]);
  });

  it("says how long each rank waited at the first barrier for the others' slots", async () => {
    const replies = await runRanks(3, 40, [1, 1, 1], { rounds: 2, lateMs: [0, 150, 0] });
    // The second round, which every rank begins together (released by the first round's barrier).
    const second = replies.map((reply) => reply.results![1].waitMs);
    expect(second[0]).toBeGreaterThanOrEqual(100); // waited for rank 1
    expect(second[2]).toBeGreaterThanOrEqual(100);
    expect(second[1]).toBeLessThan(50); // arrived last
  });

  it('a failing rank aborts the barrier: the others stop waiting instead of hanging', async () => {
    const replies = await runRanks(3, 40, [1, 1, 1], { rounds: 3, failAt: [undefined, 1, undefined] as unknown as number[] });
    expect(replies[1].error).toMatch(/rank 1 failed on purpose at round 1/);
    expect(replies[0].error).toBe(BARRIER_ABORTED);
    expect(replies[2].error).toBe(BARRIER_ABORTED);
  });
});

describe('allReduceMean with one rank', () => {
  it('returns the slot itself (no copy, no barrier), with the finiteness verdict and the stop request', () => {
    const allReduce = SharedAllReduce.create(1001, SharedBarrier.create(1), javascriptLoops);
    const slot = allReduce.slot(0);
    slot.set(Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 3));
    const result = allReduce.allReduceMean(0, 64, false, 1000);
    expect(result.mean.buffer).toBe(slot.buffer);
    expect(result.mean.byteOffset).toBe(slot.byteOffset);
    expect(result.mean).toEqual(slot);
    expect(result).toMatchObject({ finite: true, stop: false, waitMs: 0 });
    slot[1000] = Number.NaN; // the loss, last in the vector, counts too
    expect(allReduce.allReduceMean(0, 64, true, 1000)).toMatchObject({ finite: false, stop: true });
  });

  it('gives zeros for an empty slice, as the sum over ranks does', () => {
    const allReduce = SharedAllReduce.create(40, SharedBarrier.create(1), javascriptLoops);
    allReduce.slot(0).fill(5);
    const { mean, finite } = allReduce.allReduceMean(0, 0, false, 1000);
    expect(finite).toBe(true);
    expect(mean.every((v) => v === 0)).toBe(true);
  });
});

describe('SharedBarrier', () => {
  it('times out with a clear error when a rank never arrives', () => {
    const barrier = SharedBarrier.create(2);
    expect(() => barrier.arriveAndWait(50)).toThrow(/did not reach the synchronisation barrier within 0 s/);
    expect(barrier.aborted).toBe(true);
  });

  it('chunks cover the vector exactly once, cache-line aligned', () => {
    for (const workers of [1, 2, 3, 4, 7]) {
      const allReduce = SharedAllReduce.create(1001, SharedBarrier.create(workers), javascriptLoops);
      let covered = 0;
      for (let r = 0; r < workers; r++) {
        const [lo, hi] = allReduce.chunk(r);
        expect(lo).toBe(covered);
        if (hi > lo) expect(lo % 16).toBe(0);
        covered = hi;
      }
      expect(covered).toBe(1001);
    }
  });
});
