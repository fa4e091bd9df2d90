import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { DistillError, WorkerFailure, messageOf, readWorkerMessage } from '../errors.js';
import { BARRIER_ABORTED, type SharedBarrier } from './barrier.js';
import { type RankHeartbeat, watchHeartbeat } from './heartbeat.js';

/** Options for {@link WorkerPool.start}. */
export interface PoolOptions {
  workers: number;
  /** The module every thread runs: its default export is called with each task. */
  workerFile: URL;
  /** How long a rank may make no progress (at a barrier or in a task) before the run fails. */
  barrierTimeoutMs: number;
  /** JS heap limit of each worker thread in MB (Piscina `resourceLimits`); undefined: Node's default. */
  workerMemoryMb?: number;
}

/** What every task is: a message whose `kind` says which of the worker module's functions runs it. */
export interface PoolTask {
  kind: string;
}

/** One task for one rank, with the MessagePorts etc. it carries. */
export interface RankTask<Task extends PoolTask = PoolTask> {
  task: Task;
  transferList?: TransferListItem[];
}

/** What a collective run watches: barriers to abort when a rank fails, and the ranks' heartbeat. */
export interface CollectiveOptions {
  barriers: SharedBarrier[];
  heartbeat?: RankHeartbeat;
}

/**
 * What a collective run needs of a pool: its rank count, its hang timeout, and one task per rank run
 * concurrently. A {@link WorkerPool} is one, and so is {@link WorkerPool.firstRanks}'s subset of it.
 */
export interface RankGroup<Task extends PoolTask = PoolTask> {
  readonly workers: number;
  readonly barrierTimeoutMs: number;
  runOnEveryRank<R>(makeTask: (rank: number) => RankTask<Task>, options: CollectiveOptions): Promise<R[]>;
}

/** Threads that raised an error or exited outside a task. */
const brokenThreads = new WeakSet<Piscina>();

/** After one rank fails, how long the others get to stop on their own before the pool is terminated. */
const TEARDOWN_GRACE_MS = 2000;

/** Messages that only say a rank stopped because another one failed (or because we terminated it). */
const SECONDARY = [BARRIER_ABORTED, 'Terminating worker thread', 'The task has been aborted'];

/**
 * W worker threads running one worker module, each a Piscina of one thread: rank r's tasks run on thread r,
 * other tasks on the first idle thread, or wait in one queue for the first to free up. One Piscina per thread lets a pool hand its threads
 * over to pools of other sizes (see {@link WorkerPool.handOverThreads}). It knows nothing of what the tasks
 * compute. Tasks for every rank run concurrently, one per thread. Any failure tears the whole pool down (a
 * replacement thread would not have the state the others built, and the others may wait for the lost
 * rank), and reaches the caller as a {@link WorkerFailure} naming the rank and the cause.
 */
export class WorkerPool<Task extends PoolTask = PoolTask> implements RankGroup<Task> {
  private destroyed = false;
  /** Tasks in flight on each thread. */
  private readonly inFlight: number[];
  /** Tasks waiting for a thread (see idleThread), first come first served. */
  private readonly waiting: { give: (thread: number) => void; refuse: (reason: unknown) => void }[] = [];
  readonly workers: number;

  protected constructor(
    private readonly threads: Piscina[],
    readonly barrierTimeoutMs: number,
    protected readonly workerMemoryMb: number | undefined,
  ) {
    this.workers = threads.length;
    this.inFlight = threads.map(() => 0);
  }

  /** Starts W threads of `workerFile`. */
  static start<Task extends PoolTask>(options: PoolOptions): WorkerPool<Task> {
    return new WorkerPool<Task>(WorkerPool.threadsFor(options), options.barrierTimeoutMs, options.workerMemoryMb);
  }

  protected static threadsFor(options: PoolOptions): Piscina[] {
    return Array.from({ length: options.workers }, () => {
      const thread = new Piscina({
        filename: options.workerFile.href,
        minThreads: 1,
        maxThreads: 1,
        idleTimeout: 2 ** 31 - 1,
        // 'sync' would block a finished task's thread in Atomics.wait, so its Comlink port could not answer.
        atomics: 'async',
        resourceLimits: options.workerMemoryMb ? { maxOldGenerationSizeMb: options.workerMemoryMb } : undefined,
      });
      // A thread that fails or exits outside a task is replaced by Piscina with a bare one: never kept after that.
      const lost = () => brokenThreads.add(thread);
      thread.on('error', lost);
      thread.on('workerDestroy', lost);
      return thread;
    });
  }

  /** Whether every thread is still the one started here (see threadsFor), and the pool is not stopped. */
  get healthy(): boolean {
    return !this.destroyed && this.threads.every((thread) => !brokenThreads.has(thread));
  }

  /**
   * Gives this pool's threads, idle, to whoever builds a pool of them (see TfjsPool.compose): this pool is
   * then stopped as far as its callers know, and its threads are the new owner's to run and to destroy.
   */
  protected handOverThreads(): Piscina[] {
    this.checkAlive();
    if (this.inFlight.some((count) => count > 0) || this.waiting.length > 0) {
      throw new Error('a pool with tasks in flight cannot hand its threads over; end its tasks first');
    }
    this.destroyed = true;
    return this.threads;
  }

  /** Runs `task` on thread `index` (already counted in flight there), then frees the thread for the next task waiting. */
  private runOn<R>(index: number, task: Task, options: { signal?: AbortSignal; transferList?: TransferListItem[] }): Promise<R> {
    const running = this.threads[index].run(task, options as never) as Promise<R>;
    return running.finally(() => this.freeThread(index));
  }

  /**
   * A thread with nothing in flight, counted busy at once: the first idle one, or the first to free up, in
   * the order asked. Tasks wait here rather than in a thread's own queue, so that a thread that finishes
   * early takes the next task (one shared queue, as a many-thread Piscina has).
   */
  private idleThread(signal: AbortSignal): Promise<number> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const idle = this.inFlight.indexOf(0);
    if (idle >= 0 && this.waiting.length === 0) {
      this.inFlight[idle]++;
      return Promise.resolve(idle);
    }
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason);
      };
      const waiter = {
        give: (thread: number) => {
          signal.removeEventListener('abort', onAbort);
          resolve(thread);
        },
        refuse: (reason: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** One task fewer in flight on thread `index`; once it has none, the next waiting task takes it. */
  private freeThread(index: number): void {
    this.inFlight[index]--;
    if (this.inFlight[index] > 0) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.inFlight[index]++;
    next.give(index);
  }

  /**
   * Runs one task on any thread. A task that runs longer than the barrier timeout counts as hung. On any
   * failure the pool is torn down and a WorkerFailure thrown.
   */
  async run<R>(task: Task, signal?: AbortSignal): Promise<R> {
    this.checkAlive();
    const timeout = AbortSignal.timeout(this.barrierTimeoutMs);
    try {
      const stop = signal ? AbortSignal.any([signal, timeout]) : timeout;
      return await this.runOn<R>(await this.idleThread(stop), task, { signal: stop });
    } catch (error) {
      if (signal?.aborted) throw error; // the caller's own cancellation
      const failure = timeout.aborted
        ? new WorkerFailure(
            `a worker made no progress for ${seconds(this.barrierTimeoutMs)} (hung in a '${task.kind}' task); the pool was stopped`,
            undefined,
            true,
          )
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
  runOnEveryRank<R>(makeTask: (rank: number) => RankTask<Task>, options: CollectiveOptions): Promise<R[]> {
    return this.runOnRanks(this.workers, makeTask, options);
  }

  /**
   * The pool's first `count` threads as ranks 0 to count - 1: a collective run on them leaves the other
   * threads free (for any task, as ever), and a failure on them stops the whole pool, as on every rank.
   * A small model trains faster on fewer ranks than labelling wants, and this needs no second pool.
   */
  firstRanks(count: number): RankGroup<Task> {
    if (!Number.isInteger(count) || count < 1 || count > this.workers) {
      throw new Error(`internal: ${count} ranks asked of a pool of ${this.workers} workers`);
    }
    if (count === this.workers) return this;
    return {
      workers: count,
      barrierTimeoutMs: this.barrierTimeoutMs,
      runOnEveryRank: (makeTask, options) => this.runOnRanks(count, makeTask, options),
    };
  }

  /** {@link runOnEveryRank} on threads 0 to `count` - 1. */
  private async runOnRanks<R>(
    count: number,
    makeTask: (rank: number) => RankTask<Task>,
    { barriers, heartbeat }: CollectiveOptions,
  ): Promise<R[]> {
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
    const runs = Array.from({ length: count }, (_, rank) => {
      const { task, transferList } = makeTask(rank);
      this.inFlight[rank]++;
      return this.runOn<R>(rank, task, { transferList }).catch((error: unknown) => {
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
    for (const waiter of this.waiting.splice(0)) waiter.refuse(new Error('Terminating worker thread'));
    await Promise.all(this.threads.map((thread) => thread.destroy()));
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
        `${who} ran out of memory (${limit}); raise the limit (workerMemoryMb) or lower the batch size (batchSize)`,
        rank,
        true,
        ['workerMemoryMb', 'batchSize'],
      );
    }
    if (/^worker exited with code/i.test(message)) {
      return new WorkerFailure(`${who} exited unexpectedly (${message.replace(/^worker /i, '')})`, rank, true);
    }
    const { deterministic, options, text } = readWorkerMessage(message);
    return new WorkerFailure(rank === undefined ? text : `${text} (worker ${rank})`, rank, !deterministic, options);
  }
}

const delay = (ms: number) => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref());

const seconds = (ms: number) => (ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`);
