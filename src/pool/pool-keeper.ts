// Worker threads kept between runs. Starting a pool starts its threads, loads tfjs in each and compiles the
// backend's WebAssembly, work that for a small student costs more than its training: a sweep's labelling,
// auto's probes and trials run one after another on the same threads instead, in pools of whatever size
// each needs. A thread holds no run's state between tasks (every task attaches its own shared memory, models
// are cached by a fresh id), so a trial on kept threads trains as it does on new ones.
import { checkThreads } from '../options/parallelism.js';
import { TfjsPool, type TfjsPoolOptions } from './tfjs-pool.js';

/** Idle threads by the options they were started with; a run takes a pool of them (starting any missing) and gives it back when it ends well. */
export class PoolKeeper {
  /** Single-thread pools, idle. */
  private readonly idle: { key: string; thread: TfjsPool }[] = [];
  private closed = false;
  /** Threads started by {@link take} so far. */
  threadsStarted = 0;

  /** Threads kept idle now. */
  get idleThreads(): number {
    return this.idle.length;
  }

  /** A pool of `options.workers` threads: idle ones started with the same options, and new ones for the rest. */
  async take(options: TfjsPoolOptions): Promise<TfjsPool> {
    checkThreads(options.workers, options.threadsPerWorker ?? 1);
    const key = keyOf(options);
    const kept: TfjsPool[] = [];
    for (let at = this.idle.length - 1; at >= 0 && kept.length < options.workers; at--) {
      if (this.idle[at].key === key) kept.push(this.idle.splice(at, 1)[0].thread);
    }
    if (kept.length === options.workers && kept.length === 1) return kept[0];
    let started: TfjsPool | undefined;
    try {
      if (kept.length < options.workers) started = await this.start({ ...options, workers: options.workers - kept.length });
      const parts = started ? [...kept, started] : kept;
      if (parts.every((part) => part.backend === parts[0].backend && part.kernels === parts[0].kernels)) return TfjsPool.compose(parts);
    } catch (error) {
      await Promise.all(kept.map((thread) => thread.destroy()));
      throw error;
    }
    // The new threads chose another backend than the kept ones (`auto`): start them all together instead.
    await Promise.all([...kept, started!].map((pool) => pool.destroy()));
    return this.start(options);
  }

  private start(options: TfjsPoolOptions): Promise<TfjsPool> {
    this.threadsStarted += options.workers;
    return TfjsPool.startTfjs(options);
  }

  /** Keeps the threads of `pool` (started with `options`, idle and healthy) for the next run; after {@link close}, stops them. */
  async giveBack(options: TfjsPoolOptions, pool: TfjsPool): Promise<void> {
    if (this.closed) return pool.destroy();
    const key = keyOf(options);
    for (const thread of pool.split()) this.idle.push({ key, thread });
  }

  /** Stops every idle thread; pools given back later are stopped too. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.idle.splice(0).map((kept) => kept.thread);
    await Promise.all(threads.map((thread) => thread.destroy()));
  }
}

/** What makes two threads interchangeable: every option they were started with but the pool's size. */
function keyOf(options: TfjsPoolOptions): string {
  const { backend, kernels, threadsPerWorker, workerImports, barrierTimeoutMs, workerMemoryMb } = options;
  return JSON.stringify([backend, kernels ?? null, threadsPerWorker ?? 1, workerImports ?? [], barrierTimeoutMs, workerMemoryMb ?? null]);
}
