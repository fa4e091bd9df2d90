import { WorkerFailure } from '../errors.js';
import { traced } from '../trace.js';
import type { PoolKeeper } from './pool-keeper.js';
import { TfjsPool, type TfjsPoolOptions } from './tfjs-pool.js';
import type { Phase, ProgressEvent } from '../progress.js';
import type { RestartReport } from '../reports/report.js';

/** What the supervisor needs to know besides the pool's own options. */
export interface SupervisorOptions {
  pool: TfjsPoolOptions;
  /** Restarts allowed over the whole run. */
  maxRestarts: number;
  /** Said in the restart notice: where a restarted stage continues from. */
  resumesFrom: string;
  onProgress: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Where the pool comes from and goes back to at {@link PoolSupervisor.release}; default: started here, stopped there. */
  keeper?: PoolKeeper;
}

/** Supervisors made so far in this process: each one's number tells its stages apart in a trace. */
let supervisors = 0;

/**
 * Owns the run's worker pool: starts it on first use, and when a stage fails because a worker threw,
 * exited, ran out of memory or hung (anything a fresh pool may not repeat), starts a new pool and runs
 * the stage again, up to `maxRestarts` times over the run. Stages must therefore be resumable: they pick
 * up from their last checkpoint, or start over.
 */
export class PoolSupervisor {
  /** Every restart so far, for the report. */
  readonly restarts: RestartReport[] = [];
  /** Wall time spent starting pools. */
  setupSeconds = 0;
  private pool: TfjsPool | undefined;
  private readonly id = supervisors++;

  constructor(private readonly options: SupervisorOptions) {}

  /** Runs `stage` on the current pool (starting one if needed), restarting as described above. */
  async run<T>(phase: Phase, stage: (pool: TfjsPool) => Promise<T>): Promise<T> {
    const { maxRestarts, onProgress, signal } = this.options;
    for (;;) {
      try {
        const pool = this.pool ?? (await traced(`pool ${this.id} start (${this.options.pool.workers} workers)`, () => this.start()));
        return await traced(`pool ${this.id} ${phase}`, () => stage(pool));
      } catch (error) {
        await this.destroy();
        const retry = error instanceof WorkerFailure && error.retryable && this.restarts.length < maxRestarts && !signal?.aborted;
        if (!retry) throw error;
        this.restarts.push({ phase, reason: error.message });
        const count = `${this.restarts.length} of ${maxRestarts}`;
        const notice = `${error.message}; restarting the workers (${count}) from ${this.options.resumesFrom}`;
        onProgress({ phase, done: 0, total: 1, samplesPerSec: 0, notice });
      }
    }
  }

  async destroy(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  /** The run is over: its pool goes back to the keeper (every stage ended, so it is idle), or is stopped without one. */
  async release(): Promise<void> {
    const { keeper, pool: poolOptions } = this.options;
    const pool = this.pool;
    this.pool = undefined;
    if (pool && keeper) await keeper.giveBack(poolOptions, pool);
    else await pool?.destroy();
  }

  private async start(): Promise<TfjsPool> {
    const started = performance.now();
    this.options.onProgress({ phase: 'setup', done: 0, total: 1, samplesPerSec: 0 });
    const { keeper, pool: poolOptions } = this.options;
    this.pool = keeper ? await keeper.take(poolOptions) : await TfjsPool.startTfjs(poolOptions);
    this.setupSeconds += (performance.now() - started) / 1000;
    this.options.onProgress({ phase: 'setup', done: 1, total: 1, samplesPerSec: 0 });
    return this.pool;
  }
}
