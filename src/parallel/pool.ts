import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { DistillError, messageOf } from '../errors.js';
import { type BackendChoice, type BackendInit, type BackendName, backendCandidates, type KernelsUsed } from '../models/backend.js';
import { type KernelChoice, kernelChoiceFromEnv } from '../models/kernel-choice.js';
import type { WorkerTask } from '../worker.js';
import { BARRIER_ABORTED, SharedBarrier } from './barrier.js';

/** Options for {@link WorkerPool.start}. */
export interface PoolOptions {
  workers: number;
  backend: BackendChoice;
  /** The wasm backend's matMul and conv kernels (see DistillOptions.kernels). Default: TFJS_DISTILL_KERNELS, else 'auto'. */
  kernels?: KernelChoice;
  /** How long a rank may wait for the others at a barrier before the run fails. */
  barrierTimeoutMs: number;
}

/** One task for one rank, with the MessagePorts etc. it carries. */
export interface RankTask {
  task: WorkerTask;
  transferList?: TransferListItem[];
}

const WORKER_FILE = new URL('../worker.js', import.meta.url).href;

/**
 * W worker threads (Piscina, minThreads = maxThreads = W) that all run the same tfjs backend. Tasks for
 * every rank run concurrently, one per thread; a failure in any rank aborts the others and the error
 * reaches the caller with the rank and the worker's message.
 */
export class WorkerPool {
  private destroyed = false;
  /** The backend every thread runs. */
  backend!: BackendName;
  /** The matMul and conv kernels every thread runs: `openblas` or `wasm` on wasm, else the backend's name. */
  kernels!: KernelsUsed;
  /** What the workers added to the backend (missing kernels), and backends that failed to load. */
  notices: string[] = [];

  private constructor(
    private readonly piscina: Piscina,
    readonly workers: number,
    readonly barrierTimeoutMs: number,
  ) {}

  /** Starts W threads and loads the backend in each. */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    if (backendCandidates(options.backend).includes('tensorflow')) {
      // libtensorflow's thread pools are process-wide: W workers x 1 thread, not W x cores.
      process.env.TF_NUM_INTRAOP_THREADS ??= '1';
      process.env.TF_NUM_INTEROP_THREADS ??= '1';
    }
    const piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: options.workers,
      maxThreads: options.workers,
      idleTimeout: 2 ** 31 - 1,
      // 'sync' would block a finished task's thread in Atomics.wait, so its Comlink port could not answer.
      atomics: 'async',
    });
    const pool = new WorkerPool(piscina, options.workers, options.barrierTimeoutMs);
    try {
      await pool.loadBackend(options.backend, options.kernels ?? kernelChoiceFromEnv() ?? 'auto');
      return pool;
    } catch (error) {
      await pool.destroy();
      throw error;
    }
  }

  /**
   * Loads the backend in every thread. Each init task waits at a barrier for all W, which proves the
   * W threads are distinct and up. With `auto`, a backend that fails in any thread (tfjs-node can fail
   * in a second worker) is dropped for all, so every rank computes the same way.
   */
  private async loadBackend(choice: BackendChoice, kernels: KernelChoice): Promise<void> {
    // openblas kernels exist only on wasm.
    let candidates = kernels === 'openblas' && choice === 'auto' ? (['wasm'] as BackendName[]) : backendCandidates(choice);
    for (;;) {
      const barrier = SharedBarrier.create(this.workers);
      const inits = await this.runOnEveryRank<BackendInit>(
        () => ({ task: { kind: 'init', candidates, kernels, barrier: barrier.handle, timeoutMs: this.barrierTimeoutMs } }),
        [barrier],
      );
      const chosen = new Set(inits.map((init) => init.backend));
      if (chosen.size === 1) {
        this.backend = inits[0].backend;
        // The addon loads the same way in every thread of one process, so all ranks agree; should one not,
        // the run must not mix kernels silently.
        const kernelSets = new Set(inits.map((init) => init.kernels));
        if (kernelSets.size > 1) throw new DistillError(`workers loaded different kernels (${[...kernelSets].join(', ')}); set kernels to 'wasm'`);
        this.kernels = inits[0].kernels;
        this.notices = describeInits(inits);
        return;
      }
      // Threads disagree: retry from the best backend that loaded everywhere it was tried.
      const worst = Math.max(...[...chosen].map((name) => candidates.indexOf(name)));
      candidates = candidates.slice(worst);
    }
  }

  /** Runs one task on any thread. */
  async run<R>(task: WorkerTask, signal?: AbortSignal): Promise<R> {
    try {
      return (await this.piscina.run(task, { signal })) as R;
    } catch (error) {
      throw new DistillError(messageOf(error));
    }
  }

  /**
   * Runs one task per rank, concurrently: W tasks on W distinct threads. If any rank fails, `barriers`
   * are aborted so the others stop waiting, and the first real failure is thrown, naming its rank.
   */
  async runOnEveryRank<R>(makeTask: (rank: number) => RankTask, barriers: SharedBarrier[]): Promise<R[]> {
    const runs = Array.from({ length: this.workers }, (_, rank) => {
      const { task, transferList } = makeTask(rank);
      return this.piscina.run(task, { transferList: transferList as never }).catch((error: unknown) => {
        for (const barrier of barriers) barrier.abort();
        throw Object.assign(new Error(messageOf(error)), { rank });
      });
    });
    const settled = await Promise.allSettled(runs);
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error & { rank: number }] : []));
    if (failures.length > 0) {
      const cause = failures.find((f) => !f.message.includes(BARRIER_ABORTED)) ?? failures[0];
      throw new DistillError(`${cause.message} (worker ${cause.rank})`);
    }
    return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
  }

  /** Stops every thread, whatever it is doing. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.piscina.destroy();
  }
}

/** One line per distinct backend failure (with the workers it happened in), and one for added kernels. */
function describeInits(inits: BackendInit[]): string[] {
  const failures = new Map<string, number[]>();
  inits.forEach((init, rank) => {
    for (const [name, why] of Object.entries(init.failures)) {
      const key = `${name} backend unavailable: ${why}`;
      failures.set(key, [...(failures.get(key) ?? []), rank]);
    }
  });
  const notices = [...failures].map(([text, ranks]) => `${text} (worker${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')})`);
  const { backend, patches, kernelNotice } = inits[0];
  if (patches.length > 0) notices.push(`${backend} backend: tfjs-distill added kernels it lacks: ${patches.join('; ')}`);
  if (kernelNotice) notices.push(kernelNotice);
  return notices;
}
