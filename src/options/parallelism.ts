/**
 * How a run spreads over the cores: worker threads (data parallelism) and OpenBLAS threads per worker.
 *
 * W workers x 1 BLAS thread splits every batch W ways and averages the gradients each step; 1 worker x
 * `cores` BLAS threads keeps the whole batch in one replica, with no exchange, and splits each GEMM
 * inside OpenBLAS instead. OpenBLAS keeps one thread count and one thread pool per process, so the two
 * do not mix: more than one BLAS thread needs a one-worker pool (concurrent callers would share that pool).
 * Threads pay off only where the GEMMs are large: OpenBLAS's fork and join per call costs more than it
 * saves on small layers. Measured side by side (bench/threads-ab.mjs), 1 worker x 2 threads and 2 workers
 * x 1 thread train the bench's dense job at the same speed within noise, and workers also speed up
 * labelling and convolutions (whose im2col is single-threaded): so `auto` keeps a worker per core, and
 * adds BLAS threads where the worker count is 1.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { DistillError } from '../errors.js';
import { loadBlas } from '../kernels/blas-kernels.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';

/** What a run uses: worker threads, and OpenBLAS threads per worker. */
export interface Parallelism {
  workers: number;
  threadsPerWorker: number;
}

/**
 * The per-step work (the student's trainable parameters x the global batch) from which `auto` gives a
 * single worker a BLAS thread per core. bench/threads-ab.mjs measures it: MLPs of 512- and 1024-unit
 * layers at batch 256 lie above it and train faster on 2 threads than on 1; below it the GEMMs are too
 * small for OpenBLAS's threads to gain.
 */
export const BLAS_THREADS_MIN_WORK = 2 ** 27;

/** What {@link chooseParallelism} decides from. */
export interface ParallelismInputs {
  /** The workers option as given (undefined: not given). */
  workers: number | undefined;
  threadsPerWorker: number | 'auto';
  backend: BackendChoice;
  kernels: KernelChoice;
  /** The student's trainable parameters. */
  studentParams: number;
  batchSize: number;
  /** Default: the machine's available parallelism. */
  cores?: number;
}

/**
 * The run's workers and BLAS threads per worker:
 * - a thread count above 1 needs workers 1, and makes the workers default 1 instead of the core count;
 * - `auto`: the workers as given, else the core count; with 1 worker and a large student (see
 *   {@link BLAS_THREADS_MIN_WORK}), a BLAS thread per core, else 1.
 * `auto` counts on threads only where the openblas kernels will run (wasm backend, addon and OpenBLAS
 * loadable); anywhere else it keeps 1 thread and the workers default, the core count.
 */
export function chooseParallelism(inputs: ParallelismInputs): Parallelism {
  const cores = inputs.cores ?? availableParallelism();
  const { workers, threadsPerWorker } = inputs;
  if (threadsPerWorker !== 'auto') {
    checkThreads(workers ?? 1, threadsPerWorker);
    return { workers: workers ?? (threadsPerWorker > 1 ? 1 : cores), threadsPerWorker };
  }
  const large = inputs.studentParams * inputs.batchSize >= BLAS_THREADS_MIN_WORK;
  const threaded = cores > 1 && large && (workers ?? cores) === 1 && openblasWillRun(inputs.backend, inputs.kernels);
  return { workers: workers ?? cores, threadsPerWorker: threaded ? cores : 1 };
}

/**
 * Refuses thread counts a pool cannot honour: the workers/threadsPerWorker rule, for the pool and
 * chooseParallelism (the option schema states it through {@link threadsConflict}).
 */
export function checkThreads(workers: number, threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new DistillError(`threadsPerWorker must be an integer >= 1, got ${threads}`, ['threadsPerWorker']);
  }
  const conflict = threadsConflict(workers, threads);
  if (conflict) throw new DistillError(conflict, ['threadsPerWorker', 'workers']);
}

/** Why `workers` x `threads` cannot run (more than one BLAS thread in a pool of several workers), or undefined. */
export function threadsConflict(workers: number, threads: number): string | undefined {
  if (threads <= 1 || workers <= 1) return undefined;
  return (
    `threadsPerWorker ${threads} needs workers 1, got workers ${workers}: OpenBLAS keeps one thread pool per process, ` +
    "which concurrent workers would share and slow down; set workers 1, or threadsPerWorker 1 (or 'auto')"
  );
}

/**
 * Whether the workers will run the openblas kernels: the wasm backend (or `auto` where tfjs-node, whose
 * backend it would prefer, cannot load), kernels other than wasm, and the addon and OpenBLAS loading here.
 */
function openblasWillRun(backend: BackendChoice, kernels: KernelChoice): boolean {
  if (kernels === 'wasm') return false;
  const wasm = backend === 'wasm' || (backend === 'auto' && (kernels === 'openblas' || !tfjsNodeBuilt()));
  return wasm && 'blas' in loadBlas();
}

/**
 * Whether tfjs-node is installed with its native binding. Loading it here would register its backend in
 * this thread, so its files are looked at instead: without the binding (an install whose download failed)
 * the workers' `auto` falls back to wasm.
 */
function tfjsNodeBuilt(): boolean {
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    return false;
  }
  const lib = join(root, 'lib');
  return existsSync(lib) && readdirSync(lib).some((dir) => existsSync(join(lib, dir, 'tfjs_binding.node')));
}

/**
 * The per-step work (the model's forward multiply-adds per row x the global batch, see forwardMultiplyAdds)
 * that each training rank beyond the first asks for under `auto`: below it a model trains on one rank, from it
 * on two, from twice it on three, and so on up to the workers. Splitting a step among ranks leaves each rank
 * the step's fixed cost (the optimizer pass over every weight, the tfjs calls), and adds the gradient's
 * exchange and the waits at the barriers; only the multiply-adds are shared. Measured through the CLI, one
 * rank against two side by side (bench/train-ranks.mjs, bench/text.mjs): `bag:32` trains faster on one rank,
 * and `cnn1d:32,64` at the text batch and the dense and convolutional benches at batch 256 lie above it and
 * train faster on two. Only one rank against two was measured (a 2-core machine); the counts beyond two are
 * that threshold extrapolated in proportion (docs/scaling-and-performance.md, Training workers).
 */
export const TRAIN_RANKS_MIN_WORK = 2 ** 24;

/** What {@link chooseTrainWorkers} decides from. */
export interface TrainWorkersInputs {
  /** The trainWorkers option. */
  trainWorkers: number | 'auto';
  /** The pool's workers (what chooseParallelism resolved). */
  workers: number;
  /** Whether the user gave the workers option (then `auto` trains on all of them). */
  workersGiven: boolean;
  /** The model's forward multiply-adds per row (see forwardMultiplyAdds). */
  multiplyAdds: number;
  /**
   * The global batch: the step's work is the multiply-adds per row times it, and `auto` trains on at most
   * this many ranks (each needs a row per step).
   */
  batchSize: number;
  /** The BLAS threads per worker the pool runs, for the error when trainWorkers exceeds the pool. Default 1. */
  threadsPerWorker?: number;
}

/**
 * The ranks a training phase runs on: trainWorkers as given (at most the pool's workers); with `auto`, the
 * workers as given, and without them one rank plus one more for every {@link TRAIN_RANKS_MIN_WORK} a step
 * computes, at most the workers and the batch size. A worker count the user asks for is the one training
 * runs on, as it always was; the default count (a worker per core) is chosen for labelling, which always
 * gains from it, training not.
 */
export function chooseTrainWorkers(inputs: TrainWorkersInputs): number {
  const { trainWorkers, workers } = inputs;
  if (trainWorkers !== 'auto') {
    const conflict = trainWorkersConflict(trainWorkers, workers, inputs.threadsPerWorker ?? 1);
    if (conflict) throw new DistillError(conflict.message, conflict.options);
    return trainWorkers;
  }
  if (inputs.workersGiven) return workers;
  const ranks = 1 + Math.floor((inputs.multiplyAdds * inputs.batchSize) / TRAIN_RANKS_MIN_WORK);
  return Math.max(1, Math.min(ranks, workers, inputs.batchSize));
}

/**
 * Why `trainWorkers` ranks cannot run in a pool of `workers` (with `threadsPerWorker` BLAS threads each), and
 * the options to name; undefined when they can. The option checks and chooseTrainWorkers share this wording.
 */
export function trainWorkersConflict(
  trainWorkers: number,
  workers: number,
  threadsPerWorker = 1,
): { message: string; options: string[] } | undefined {
  if (trainWorkers <= workers) return undefined;
  if (threadsPerWorker > 1) {
    return {
      message:
        `trainWorkers ${trainWorkers} is more than workers ${workers}: threadsPerWorker ${threadsPerWorker} needs a pool of one worker; ` +
        "lower trainWorkers (or set it to 'auto'), or lower threadsPerWorker",
      options: ['trainWorkers', 'workers', 'threadsPerWorker'],
    };
  }
  return {
    message:
      `trainWorkers ${trainWorkers} is more than workers ${workers}: training runs on the pool's first ranks; ` +
      "lower trainWorkers (or set it to 'auto'), or raise workers",
    options: ['trainWorkers', 'workers'],
  };
}
