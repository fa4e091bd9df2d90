import { afterEach, describe, expect, it } from 'vitest';
import { WorkerFailure } from '../dist/errors.js';
import { SharedBarrier } from '../dist/parallel/barrier.js';
import { PoolKeeper } from '../dist/pool/pool-keeper.js';
import { PoolSupervisor } from '../dist/pool/supervisor.js';
import type { TfjsPool, TfjsPoolOptions } from '../dist/pool/tfjs-pool.js';

const oneWorker: TfjsPoolOptions = { workers: 1, backend: 'cpu', barrierTimeoutMs: 20_000, threadsPerWorker: 1 };
const twoWorkers: TfjsPoolOptions = { ...oneWorker, workers: 2 };

/** Whether the pool still runs tasks (a stopped one refuses them): it loads its backend again, alone at its barrier. */
async function answers(pool: TfjsPool): Promise<boolean> {
  const barrier = SharedBarrier.create(1).handle;
  try {
    await pool.run({ kind: 'init', candidates: ['cpu'], kernels: 'auto', blasThreads: 1, imports: [], barrier, timeoutMs: 10_000 });
    return true;
  } catch (error) {
    return !/worker pool was stopped/.test((error as Error).message);
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

  it('hands back the pool given back with the same options, and starts another for other options or when none is idle', async () => {
    const pools = keeper();
    const first = await pools.take(oneWorker);
    const second = await pools.take(oneWorker); // the first is out: a pool of its own
    expect(second).not.toBe(first);
    await pools.giveBack(oneWorker, first);
    const wider = await pools.take(twoWorkers);
    expect(wider).not.toBe(first);
    expect(wider.workers).toBe(2);
    expect(await pools.take(oneWorker)).toBe(first);
    for (const pool of [second, wider]) await pool.destroy();
    await first.destroy();
  });

  it('a run that ends well gives its pool to the next run; a pool that failed is stopped, never given back', async () => {
    const pools = keeper();
    const ran: TfjsPool[] = [];
    const first = supervisorOn(pools);
    await first.run('label', async (pool) => ran.push(pool));
    await first.release();
    const second = supervisorOn(pools);
    await second.run('label', async (pool) => ran.push(pool));
    expect(ran[1]).toBe(ran[0]);
    await expect(
      second.run('student', async () => {
        throw new WorkerFailure('worker 0 exited unexpectedly', 0, false);
      }),
    ).rejects.toThrow(/exited unexpectedly/);
    expect(await answers(ran[0])).toBe(false);
    await second.release();
    const third = supervisorOn(pools);
    await third.run('label', async (pool) => ran.push(pool));
    expect(ran[2]).not.toBe(ran[0]);
    expect(await answers(ran[2])).toBe(true);
    await third.release();
  });

  it('closing stops the idle pools, and those given back afterwards', async () => {
    const pools = keeper();
    const idle = await pools.take(oneWorker);
    const late = await pools.take(oneWorker);
    await pools.giveBack(oneWorker, idle);
    await pools.close();
    expect(await answers(idle)).toBe(false);
    expect(await answers(late)).toBe(true);
    await pools.giveBack(oneWorker, late);
    expect(await answers(late)).toBe(false);
  });
});
