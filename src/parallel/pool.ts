import { pathToFileURL } from 'node:url';
import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { DETERMINISTIC_TAG, DistillError, messageOf } from '../errors.js';
import { type BackendChoice, type BackendInit, type BackendName, backendCandidates, type KernelsUsed } from '../models/backend.js';
import { type KernelChoice, kernelChoiceFromEnv } from '../models/kernel-choice.js';
import type { WorkerTask } from '../worker.js';
import { BARRIER_ABORTED, SharedBarrier } from './barrier.js';
import { type RankHeartbeat, watchHeartbeat } from './heartbeat.js';

/** Options for {@link WorkerPool.start}. */
export interface PoolOptions {
  workers: number;
  backend: BackendChoice;
  /** The wasm backend's matMul and conv kernels (see DistillOptions.kernels). Default: TFJS_DISTILL_KERNELS, else 'auto'. */
  kernels?: KernelChoice;
  /** How long a rank may make no progress (at a barrier or in a task) before the run fails. */
  barrierTimeoutMs: number;
  /** JS heap limit of each worker thread in MB (Piscina `resourceLimits`); undefined: Node's default. */
  workerMemoryMb?: number;
  /** Modules every thread imports before anything else, e.g. to register custom layers (paths or URLs). */
  workerImports?: string[];
}

/** One task for one rank, with the MessagePorts etc. it carries. */
export interface RankTask {
  task: WorkerTask;
  transferList?: TransferListItem[];
}

/** What a collective run watches: barriers to abort when a rank fails, and the ranks' heartbeat. */
export interface CollectiveOptions {
  barriers: SharedBarrier[];
  heartbeat?: RankHeartbeat;
}

/**
 * A worker failed: it threw, exited, ran out of memory or stopped making progress. The pool has been torn
 * down. `retryable` is false when the failure is deterministic (a DistillError raised in the worker, such
 * as a diverging loss), since a fresh pool would only repeat it.
 */
export class WorkerFailure extends DistillError {
  override name = 'WorkerFailure';
  constructor(
    message: string,
    readonly rank: number | undefined,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const WORKER_FILE = new URL('../worker.js', import.meta.url).href;

/** After one rank fails, how long the others get to stop on their own before the pool is terminated. */
const TEARDOWN_GRACE_MS = 2000;

/** Messages that only say a rank stopped because another one failed (or because we terminated it). */
const SECONDARY = [BARRIER_ABORTED, 'Terminating worker thread', 'The task has been aborted'];

/**
 * W worker threads (Piscina, minThreads = maxThreads = W) that all run the same tfjs backend. Tasks for
 * every rank run concurrently, one per thread. Any failure tears the whole pool down (a replacement
 * thread would not have the backend loaded, and the others may wait for the lost rank), and reaches the
 * caller as a {@link WorkerFailure} naming the rank and the cause.
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
    private readonly workerMemoryMb: number | undefined,
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
      resourceLimits: options.workerMemoryMb ? { maxOldGenerationSizeMb: options.workerMemoryMb } : undefined,
    });
    const pool = new WorkerPool(piscina, options.workers, options.barrierTimeoutMs, options.workerMemoryMb);
    try {
      await pool.loadBackend(options.backend, options.kernels ?? kernelChoiceFromEnv() ?? 'auto', (options.workerImports ?? []).map(moduleUrl));
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
  private async loadBackend(choice: BackendChoice, kernels: KernelChoice, imports: string[]): Promise<void> {
    // openblas kernels exist only on wasm.
    let candidates = kernels === 'openblas' && choice === 'auto' ? (['wasm'] as BackendName[]) : backendCandidates(choice);
    for (;;) {
      const barrier = SharedBarrier.create(this.workers);
      const inits = await this.runOnEveryRank<BackendInit>(
        () => ({ task: { kind: 'init', candidates, kernels, imports, barrier: barrier.handle, timeoutMs: this.barrierTimeoutMs } }),
        { barriers: [barrier] },
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

  /**
   * Runs one task on any thread. A task that runs longer than the barrier timeout counts as hung. On any
   * failure the pool is torn down and a WorkerFailure thrown.
   */
  async run<R>(task: WorkerTask, signal?: AbortSignal): Promise<R> {
    this.checkAlive();
    const timeout = AbortSignal.timeout(this.barrierTimeoutMs);
    try {
      return (await this.piscina.run(task, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout })) as R;
    } catch (error) {
      if (signal?.aborted) throw error; // the caller's own cancellation
      const failure = timeout.aborted
        ? new WorkerFailure(`a worker made no progress for ${seconds(this.barrierTimeoutMs)} (hung in a '${task.kind}' task); the pool was stopped`, undefined, true)
        : this.failureOf(error, undefined);
      await this.destroy();
      throw failure;
    }
  }

  /**
   * Runs one task per rank, concurrently: W tasks on W distinct threads. If any rank fails, or the
   * heartbeat stops moving for the barrier timeout, the barriers are aborted so the others stop
   * waiting, the pool is torn down, and the first real failure is thrown, naming its rank.
   */
  async runOnEveryRank<R>(makeTask: (rank: number) => RankTask, { barriers, heartbeat }: CollectiveOptions): Promise<R[]> {
    this.checkAlive();
    let firstFailure!: () => void;
    const failed = new Promise<void>((resolve) => (firstFailure = resolve));
    const abortAll = () => {
      for (const barrier of barriers) barrier.abort();
      firstFailure();
    };
    let stall: WorkerFailure | undefined;
    const stopWatching = heartbeat
      ? watchHeartbeat(heartbeat, this.barrierTimeoutMs, (ranks) => {
          stall = new WorkerFailure(
            `worker${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} made no progress for ${seconds(this.barrierTimeoutMs)} ` +
              '(hung in a step); the pool was stopped',
            ranks[0],
            true,
          );
          abortAll();
        })
      : () => {};
    const runs = Array.from({ length: this.workers }, (_, rank) => {
      const { task, transferList } = makeTask(rank);
      return this.piscina.run(task, { transferList: transferList as never }).catch((error: unknown) => {
        abortAll();
        throw this.failureOf(error, rank);
      });
    });
    const all = Promise.allSettled(runs);
    try {
      // Once a rank fails, the others get a grace period to notice; a hung one never would.
      const settled = await Promise.race([all, failed.then(() => Promise.race([all, delay(TEARDOWN_GRACE_MS)]))]);
      if (!settled || stall) await this.destroy();
      const outcomes = settled ?? (await all);
      const failures = outcomes.flatMap((s) => (s.status === 'rejected' ? [s.reason as WorkerFailure] : []));
      if (stall) throw stall;
      if (failures.length > 0) {
        await this.destroy();
        throw failures.find((f) => !SECONDARY.some((text) => f.message.includes(text))) ?? failures[0];
      }
      return outcomes.map((s) => (s as PromiseFulfilledResult<R>).value);
    } finally {
      stopWatching();
    }
  }

  /** Stops every thread, whatever it is doing. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.piscina.destroy();
  }

  private checkAlive(): void {
    if (this.destroyed) throw new DistillError('the worker pool was stopped after a failure; start a new run');
  }

  /** Turns what a task rejected with into a WorkerFailure with a one-line cause. */
  private failureOf(error: unknown, rank: number | undefined): WorkerFailure {
    const who = rank === undefined ? 'a worker' : `worker ${rank}`;
    const message = messageOf(error);
    if ((error as { code?: string })?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      const limit = this.workerMemoryMb ? `its ${this.workerMemoryMb} MB JS heap limit` : 'its JS heap';
      return new WorkerFailure(
        `${who} ran out of memory (${limit}); raise the limit (--worker-memory-mb) or lower the batch size`,
        rank,
        true,
      );
    }
    if (/^worker exited with code/i.test(message)) {
      return new WorkerFailure(`${who} exited unexpectedly (${message.replace(/^worker /i, '')})`, rank, true);
    }
    const deterministic = message.startsWith(DETERMINISTIC_TAG);
    const text = deterministic ? message.slice(DETERMINISTIC_TAG.length) : message;
    return new WorkerFailure(rank === undefined ? text : `${text} (worker ${rank})`, rank, !deterministic);
  }
}

const delay = (ms: number) => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref());

const seconds = (ms: number) => (ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`);

/** A module to import in the workers: a URL as given, a path resolved against the working directory. */
function moduleUrl(specifier: string): string {
  return /^[a-z]+:/i.test(specifier) ? specifier : pathToFileURL(specifier).href;
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
