import { importSpecifier } from '../url-or-path.js';
import { DistillError } from '../errors.js';
import { type BackendChoice, type BackendInit, type BackendName, backendCandidates, type KernelsUsed } from '../kernels/backend.js';
import { type KernelChoice, kernelChoiceFromEnv } from '../kernels/kernel-choice.js';
import { checkThreads } from '../options/parallelism.js';
import { SharedBarrier } from '../parallel/barrier.js';
import { type PoolOptions, WorkerPool } from '../parallel/pool.js';
import type { WorkerTask } from '../worker.js';

/** Options for {@link TfjsPool.start}: the generic pool's, with the tfjs backend every thread loads. */
export interface TfjsPoolOptions extends Omit<PoolOptions, 'workerFile'> {
  backend: BackendChoice;
  /** The wasm backend's matMul and conv kernels (see DistillOptions.kernels). Default: TFJS_DISTILL_KERNELS, else 'auto'. */
  kernels?: KernelChoice;
  /**
   * OpenBLAS threads per worker with the openblas kernels (other kernels ignore it). Default 1. Above 1 needs
   * a one-worker pool: OpenBLAS keeps one thread count and one thread pool per process, and workers calling
   * a multithreaded sgemm at once share that pool and slow each other down.
   */
  threadsPerWorker?: number;
  /** Modules every thread imports before anything else, e.g. to register custom layers (paths or URLs). */
  workerImports?: string[];
  /**
   * False for a pool that will run only onnxruntime models (label() with an ONNX teacher): its threads
   * start without importing tfjs or loading a backend, which is most of a thread's start, and `backend`
   * and `kernels` are null. A tfjs task sent to it fails. Default true.
   */
  loadTfjs?: boolean;
}

const WORKER_FILE = new URL('../worker.js', import.meta.url);

/** A {@link WorkerPool} of tfjs-distill's worker module, every thread on the same tfjs backend and kernels. */
export class TfjsPool extends WorkerPool<WorkerTask> {
  /** The backend every thread runs; null in a pool started without tfjs (`loadTfjs: false`). */
  backend: BackendName | null = null;
  /** The matMul and conv kernels every thread runs: `openblas` or `wasm` on wasm, else the backend's name; null without tfjs. */
  kernels: KernelsUsed | null = null;
  /** What the workers added to the backend (missing kernels), and backends that failed to load. */
  notices: string[] = [];

  /** The backend and kernels of a pool that loaded tfjs (every pool but label()'s for onnxruntime teachers). */
  tfjsRuntime(): { backend: BackendName; kernels: KernelsUsed } {
    if (this.backend === null || this.kernels === null) throw new DistillError('internal: this pool was started without tfjs');
    return { backend: this.backend, kernels: this.kernels };
  }

  /** Starts W threads and loads the backend in each (unless `loadTfjs` is false). */
  static async startTfjs(options: TfjsPoolOptions): Promise<TfjsPool> {
    if (backendCandidates(options.backend).includes('tensorflow')) {
      // libtensorflow's thread pools are process-wide: W workers x 1 thread, not W x cores.
      process.env.TF_NUM_INTRAOP_THREADS ??= '1';
      process.env.TF_NUM_INTEROP_THREADS ??= '1';
    }
    checkThreads(options.workers, options.threadsPerWorker ?? 1);
    const poolOptions = { ...options, workerFile: WORKER_FILE };
    const pool = new TfjsPool(WorkerPool.threadsFor(poolOptions), options.barrierTimeoutMs, options.workerMemoryMb);
    try {
      const kernels = options.kernels ?? kernelChoiceFromEnv() ?? 'auto';
      if (options.loadTfjs === false) await pool.startWithoutTfjs();
      else await pool.loadBackend(options.backend, kernels, options.threadsPerWorker ?? 1, (options.workerImports ?? []).map(moduleUrl));
      return pool;
    } catch (error) {
      await pool.destroy();
      throw error;
    }
  }

  /**
   * One pool of the threads of `parts`, idle pools started with the same options (so the same backend and
   * kernels), which are then stopped as far as their callers know: a kept pool's threads serve a pool of
   * another size without loading tfjs again. The parts must have loaded the same backend and kernels.
   */
  static compose(parts: TfjsPool[]): TfjsPool {
    const [first] = parts;
    const same = parts.every((part) => part.backend === first.backend && part.kernels === first.kernels);
    if (!same) throw new DistillError('internal: pools with different backends or kernels cannot be joined');
    const pool = new TfjsPool(
      parts.flatMap((part) => part.handOverThreads()),
      first.barrierTimeoutMs,
      first.workerMemoryMb,
    );
    pool.backend = first.backend;
    pool.kernels = first.kernels;
    pool.notices = [...new Set(parts.flatMap((part) => part.notices))];
    return pool;
  }

  /**
   * Readies this idle pool's threads for another run: each unloads the models its tasks loaded. False when a
   * thread is not the one started and initialised (it failed, or Piscina replaced it), so it must not be kept.
   */
  async forgetRun(): Promise<boolean> {
    if (!this.healthy) return false;
    try {
      const initialised = await this.runOnEveryRank<boolean>(() => ({ task: { kind: 'forget' } }), { barriers: [] });
      return initialised.every(Boolean) && this.healthy;
    } catch {
      return false;
    }
  }

  /** This idle pool as one pool per thread (see {@link compose}); this pool is then stopped as far as its callers know. */
  split(): TfjsPool[] {
    const { backend, kernels, notices, barrierTimeoutMs, workerMemoryMb } = this;
    return this.handOverThreads().map((thread) => {
      const single = new TfjsPool([thread], barrierTimeoutMs, workerMemoryMb);
      Object.assign(single, { backend, kernels, notices });
      return single;
    });
  }

  /** Readies every thread without tfjs, at one barrier as {@link loadBackend}'s, which proves the W threads distinct and up. */
  private async startWithoutTfjs(): Promise<void> {
    const barrier = SharedBarrier.create(this.workers);
    await this.runOnEveryRank(() => ({ task: { kind: 'init', barrier: barrier.handle, timeoutMs: this.barrierTimeoutMs } }), {
      barriers: [barrier],
    });
  }

  /**
   * Loads the backend in every thread. Each init task waits at a barrier for all W, which proves the
   * W threads are distinct and up. With `auto`, a backend that fails in any thread (tfjs-node can fail
   * in a second worker) is dropped for all, so every rank computes the same way.
   */
  private async loadBackend(choice: BackendChoice, kernels: KernelChoice, blasThreads: number, imports: string[]): Promise<void> {
    // openblas kernels exist only on wasm.
    let candidates = kernels === 'openblas' && choice === 'auto' ? (['wasm'] as BackendName[]) : backendCandidates(choice);
    for (;;) {
      const barrier = SharedBarrier.create(this.workers);
      const inits = await this.runOnEveryRank<BackendInit>(
        () => ({
          task: {
            kind: 'init',
            tfjs: { candidates, kernels, blasThreads, imports },
            barrier: barrier.handle,
            timeoutMs: this.barrierTimeoutMs,
          },
        }),
        { barriers: [barrier] },
      );
      const chosen = new Set(inits.map((init) => init.backend));
      if (chosen.size === 1) {
        this.backend = inits[0].backend;
        // The addon loads the same way in every thread of one process, so all ranks agree; should one not,
        // the run must not mix kernels silently.
        const kernelSets = new Set(inits.map((init) => init.kernels));
        if (kernelSets.size > 1) {
          throw new DistillError(`workers loaded different kernels (${[...kernelSets].join(', ')}); set kernels to 'wasm'`, ['kernels']);
        }
        this.kernels = inits[0].kernels;
        this.notices = describeInits(inits);
        return;
      }
      // Threads disagree: retry from the best backend that loaded everywhere it was tried.
      const worst = Math.max(...[...chosen].map((name) => candidates.indexOf(name)));
      candidates = candidates.slice(worst);
    }
  }
}

/** A module to import in the workers: a URL as given, a path resolved against the working directory. */
function moduleUrl(specifier: string): string {
  return importSpecifier(specifier);
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
  if (patches.length > 0) notices.push(`${backend} backend: kernels added or replaced by tfjs-distill: ${patches.join('; ')}`);
  if (kernelNotice) notices.push(kernelNotice);
  return notices;
}
