// Worker pools kept between runs. Starting a pool starts its threads, loads tfjs in each and compiles the
// backend's WebAssembly, work that for a small student costs more than its training: a sweep's trials run one
// after another on the same pool instead. A pool holds no run's state between tasks (every task attaches its
// own shared memory, models are cached by a fresh id), so a trial on a kept pool trains as it does on a new one.
import { TfjsPool, type TfjsPoolOptions } from './tfjs-pool.js';

/** Idle pools by their options; a run takes one that matches or starts one, and gives it back when it ends well. */
export class PoolKeeper {
  private readonly idle: { key: string; pool: TfjsPool }[] = [];
  private closed = false;

  /** An idle pool started with the same options, or a new one. */
  async take(options: TfjsPoolOptions): Promise<TfjsPool> {
    const key = keyOf(options);
    const at = this.idle.findIndex((kept) => kept.key === key);
    if (at >= 0) return this.idle.splice(at, 1)[0].pool;
    return TfjsPool.startTfjs(options);
  }

  /** Keeps `pool` (started with `options`, idle and healthy) for the next run; after {@link close}, stops it. */
  async giveBack(options: TfjsPoolOptions, pool: TfjsPool): Promise<void> {
    if (this.closed) await pool.destroy();
    else this.idle.push({ key: keyOf(options), pool });
  }

  /** Stops every idle pool; pools given back later are stopped too. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = this.idle.splice(0).map((kept) => kept.pool);
    await Promise.all(pools.map((pool) => pool.destroy()));
  }
}

/** What makes two pools interchangeable: every option they were started with. */
function keyOf(options: TfjsPoolOptions): string {
  const { workers, backend, kernels, threadsPerWorker, workerImports, barrierTimeoutMs, workerMemoryMb } = options;
  return JSON.stringify([
    workers,
    backend,
    kernels ?? null,
    threadsPerWorker ?? 1,
    workerImports ?? [],
    barrierTimeoutMs,
    workerMemoryMb ?? null,
  ]);
}
