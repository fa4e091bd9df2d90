import { afterEach, describe, expect, it } from 'vitest';
import { WorkerFailure } from '../dist/errors.js';
import { WorkerPool } from '../dist/parallel/pool.js';
import { PoolKeeper } from '../dist/pool/pool-keeper.js';
import { PoolSupervisor } from '../dist/pool/supervisor.js';
import type { TfjsPool, TfjsPoolOptions } from '../dist/pool/tfjs-pool.js';

const oneWorker: TfjsPoolOptions = { workers: 1, backend: 'cpu', barrierTimeoutMs: 20_000, threadsPerWorker: 1 };
const twoWorkers: TfjsPoolOptions = { ...oneWorker, workers: 2 };

/** Whether the pool still runs tasks (a stopped one refuses them): every thread answers that it was initialised. */
async function answers(pool: TfjsPool): Promise<boolean> {
  try {
    const initialised = await pool.runOnEveryRank<boolean>(() => ({ task: { kind: 'forget' } }), { barriers: [] });
    return initialised.every(Boolean);
  } catch (error) {
    if (/worker pool was stopped/.test((error as Error).message)) return false;
    throw error;
  }
}

const supervisorOn = (keeper: PoolKeeper) =>
  new PoolSupervisor({ pool: oneWorker, maxRestarts: 0, resumesFrom: 'the start', onProgress: () => {}, keeper });

describe('pools kept between runs', () => {
  const keepers: PoolKeeper[] = [];
  const keeper = () => {
    const made = new PoolKeeper();
    keepers.push(made);
    return made;
  };
  afterEach(async () => {
    for (const made of keepers.splice(0)) await made.close();
  });

  it('serves pools of any size from the threads given back, starting only the threads missing', async () => {
    const pools = keeper();
    const first = await pools.take(oneWorker);
    const second = await pools.take(oneWorker); // the first is out: a thread of its own
    expect(pools.threadsStarted).toBe(2);
    await pools.giveBack(oneWorker, first);
    await pools.giveBack(oneWorker, second);
    expect(pools.idleThreads).toBe(2);
    const wide = await pools.take(twoWorkers); // both kept threads, none started
    expect(pools.threadsStarted).toBe(2);
    expect(wide.workers).toBe(2);
    expect(wide.backend).toBe('cpu');
    expect(await answers(first)).toBe(false); // its thread is the wide pool's now
    expect(await answers(wide)).toBe(true);
    await pools.giveBack(twoWorkers, wide);
    const three = await pools.take({ ...oneWorker, workers: 3 }); // two kept, one started
    expect(pools.threadsStarted).toBe(3);
    expect(await answers(three)).toBe(true);
    const other = await pools.take({ ...oneWorker, barrierTimeoutMs: 30_000 }); // other options: its own thread
    expect(pools.threadsStarted).toBe(4);
    await Promise.all([three.destroy(), other.destroy()]);
  });

  it('a run that ends well gives its threads to the next run; a pool that failed is stopped, never given back', async () => {
    const pools = keeper();
    const ran: TfjsPool[] = [];
    const first = supervisorOn(pools);
    await first.run('label', async (pool) => ran.push(pool));
    await first.release();
    const second = supervisorOn(pools);
    await second.run('label', async (pool) => ran.push(pool));
    expect(pools.threadsStarted).toBe(1);
    await expect(
      second.run('student', async () => {
        throw new WorkerFailure('worker 0 exited unexpectedly', 0, false);
      }),
    ).rejects.toThrow(/exited unexpectedly/);
    expect(await answers(ran[1])).toBe(false);
    await second.release();
    expect(pools.idleThreads).toBe(0);
    const third = supervisorOn(pools);
    await third.run('label', async (pool) => ran.push(pool));
    expect(pools.threadsStarted).toBe(2);
    expect(await answers(ran[2])).toBe(true);
    await third.release();
  });

  it('closing stops the idle threads, and those given back afterwards', async () => {
    const pools = keeper();
    const idle = await pools.take(oneWorker);
    const late = await pools.take(oneWorker);
    await pools.giveBack(oneWorker, idle);
    await pools.close();
    expect(pools.idleThreads).toBe(0);
    expect(await answers(late)).toBe(true);
    await pools.giveBack(oneWorker, late);
    expect(pools.idleThreads).toBe(0);
    expect(await answers(late)).toBe(false);
  });
});

describe('threads that must not be kept', () => {
  it('a pool on more than one OpenBLAS thread is never kept, and its start stops the idle threads', async () => {
    const pools = new PoolKeeper();
    try {
      const idle = await pools.take(oneWorker);
      await pools.giveBack(oneWorker, idle);
      expect(pools.idleThreads).toBe(1);
      const threaded = { ...oneWorker, threadsPerWorker: 2 };
      const wide = await pools.take(threaded);
      expect(pools.idleThreads).toBe(0);
      expect(await answers(idle)).toBe(false);
      await pools.giveBack(threaded, wide);
      expect(pools.idleThreads).toBe(0);
      expect(await answers(wide)).toBe(false);
    } finally {
      await pools.close();
    }
  });

  it('a thread that was not initialised refuses work rather than compute on tfjs default backend', async () => {
    const pool = WorkerPool.start<{ kind: string }>({
      workers: 1,
      workerFile: new URL('../dist/worker.js', import.meta.url),
      barrierTimeoutMs: 20_000,
    });
    try {
      expect(await pool.run<boolean>({ kind: 'forget' })).toBe(false);
      await expect(pool.run({ kind: 'infer' })).rejects.toThrow(/a worker thread that was not initialised got a 'infer' task/);
    } finally {
      await pool.destroy();
    }
  });
});

describe("a pool's queue", () => {
  it('gives each waiting task to whichever thread frees up first, as one shared queue', async () => {
    const pool = WorkerPool.start<{ kind: string; ms: number }>({
      workers: 2,
      workerFile: new URL('./fixtures/pool/sleep-worker.mjs', import.meta.url),
      barrierTimeoutMs: 30_000,
    });
    try {
      const slow = pool.run<number>({ kind: 'sleep', ms: 3000 });
      const quick = await Promise.all(Array.from({ length: 6 }, () => pool.run<number>({ kind: 'sleep', ms: 20 })));
      // Every quick task ran on the other thread while the slow one held its own: none queued behind it.
      expect(new Set(quick).size).toBe(1);
      expect(quick[0]).not.toBe(await slow);
    } finally {
      await pool.destroy();
    }
  });
});
