import { importModules } from '../url-or-path.js';
import { TfjsPool, type TfjsPoolOptions } from '../pool/tfjs-pool.js';

interface PoolGeneration {
  imports: ReadonlySet<string>;
  pool: Promise<TfjsPool>;
  /** Jobs running on it: a pool replaced by one with more imports is destroyed when the last one ends. */
  users: number;
  retired: boolean;
}

/**
 * A queue worker's thread pool. Jobs name the modules their teacher needs (workerImports); a job that
 * names one the pool lacks gets a fresh pool that imports it too, started once the jobs on the old one
 * end. A pool that lost a thread is replaced by the next job.
 */
export class ImportingPool {
  private current: PoolGeneration;

  constructor(
    private readonly options: Omit<TfjsPoolOptions, 'workerImports'>,
    imports: string[],
  ) {
    this.current = this.start(new Set(imports));
  }

  /** The pool as started with the worker's own imports (for the ready line). */
  get first(): Promise<TfjsPool> {
    return this.current.pool;
  }

  /** Runs `task` on a pool whose threads imported every module in `imports` (the main thread imports them too). */
  async use<T>(imports: string[], task: (pool: TfjsPool) => Promise<T>): Promise<T> {
    const missing = imports.filter((module) => !this.current.imports.has(module));
    if (missing.length > 0) {
      // Custom layers must be known in this thread too, to load the teacher.
      await importModules(missing, (module) => `the job's workerImports module ${module} could not be imported here`);
      if (missing.some((module) => !this.current.imports.has(module))) {
        const old = this.current;
        this.current = this.start(new Set([...old.imports, ...missing]));
        this.retire(old);
      }
    }
    const generation = this.current;
    generation.users++;
    try {
      return await task(await generation.pool);
    } finally {
      generation.users--;
      if (generation.retired) this.retire(generation);
    }
  }

  /** Replaces the pool for the next job (a thread failed and took it down). */
  replace(): void {
    const old = this.current;
    this.current = this.start(old.imports);
    this.retire(old);
  }

  async destroy(): Promise<void> {
    this.current.retired = true;
    await this.current.pool.then(
      (pool) => pool.destroy(),
      () => {},
    );
  }

  private start(imports: ReadonlySet<string>): PoolGeneration {
    const pool = TfjsPool.startTfjs({ ...this.options, workerImports: [...imports] });
    pool.catch(() => {}); // the job that uses it reports the failure
    return { imports, pool, users: 0, retired: false };
  }

  private retire(generation: PoolGeneration): void {
    generation.retired = true;
    if (generation.users === 0) {
      void generation.pool.then(
        (pool) => pool.destroy(),
        () => {},
      );
    }
  }
}
