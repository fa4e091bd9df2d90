// Worker threads kept between runs. Starting a pool starts its threads, loads tfjs in each and compiles the
// backend's WebAssembly, work that for a small student costs more than its training: a sweep's labelling,
// auto's probes and trials run one after another on the same threads instead, in pools of whatever size
// each needs. A kept thread holds no run's state: every task attaches its own shared memory, and a pool given
// back unloads its models first (TfjsPool.forgetRun). OpenBLAS's thread count is one per process, so a pool
// that sets it above 1 is never kept, and its start stops the idle threads (they would compute on its count).
import { TfjsPool, type TfjsPoolOptions } from './tfjs-pool.js';

/** Idle threads by the options they were started with; a run takes a pool of them (starting any missing) and gives it back when it ends; a failed pool is stopped. */
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
    if (this.closed) throw new Error('the kept threads were closed: the sweep has ended, so no run may start on them');
    if ((options.threadsPerWorker ?? 1) > 1) {
      await this.stopIdle();
      return this.start(options);
    }
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
      // The kept threads are as healthy as they were: they stay for the next run.
      for (const thread of kept) this.idle.push({ key, thread });
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
    const reusable = (options.threadsPerWorker ?? 1) === 1 && options.loadTfjs !== false;
    if (this.closed || !reusable || !(await pool.forgetRun()) || this.closed) return pool.destroy();
    const key = keyOf(options);
    for (const thread of pool.split()) this.idle.push({ key, thread });
  }

  /** Stops every idle thread; pools given back later are stopped too. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stopIdle();
  }

  private async stopIdle(): Promise<void> {
    const threads = this.idle.splice(0).map((kept) => kept.thread);
    await Promise.all(threads.map((thread) => thread.destroy()));
  }
}

/** What makes two threads interchangeable: every option they were started with but the pool's size. */
function keyOf(options: TfjsPoolOptions): string {
  const { backend, kernels, threadsPerWorker, workerImports, barrierTimeoutMs, workerMemoryMb, loadTfjs } = options;
  const started = [
    backend,
    kernels ?? null,
    threadsPerWorker ?? 1,
    workerImports ?? [],
    barrierTimeoutMs,
    workerMemoryMb ?? null,
    loadTfjs ?? true,
  ];
  return JSON.stringify(started);
}
