import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, buildModel, distill } from '../dist/index.js';
import { settingsFromFlags } from '../dist/cli/run-config.js';
import type { RunFlags } from '../dist/cli/flags.js';
import { BLAS_THREADS_MIN_WORK, chooseParallelism } from '../dist/options/parallelism.js';
import { resolveConfig } from '../dist/options/options.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { digitRows } from './helpers/digits.js';

/** Whether the native OpenBLAS kernels load here (CI installs OpenBLAS; see .ci/run). */
const NATIVE = 'blas' in loadBlas();

describe('workers x BLAS threads', () => {
  const large = { studentParams: BLAS_THREADS_MIN_WORK / 256, batchSize: 256 };
  const small = { studentParams: BLAS_THREADS_MIN_WORK / 256 - 1, batchSize: 256 };
  const wasm = { backend: 'wasm', kernels: 'openblas' } as const;

  it('a thread count above 1 makes the workers default 1, and refuses several workers', () => {
    expect(chooseParallelism({ ...small, ...wasm, workers: undefined, threadsPerWorker: 2, cores: 4 })).toEqual({
      workers: 1,
      threadsPerWorker: 2,
    });
    expect(chooseParallelism({ ...large, ...wasm, workers: undefined, threadsPerWorker: 1, cores: 4 })).toEqual({
      workers: 4,
      threadsPerWorker: 1,
    });
    expect(chooseParallelism({ ...large, ...wasm, workers: 3, threadsPerWorker: 1, cores: 4 })).toEqual({
      workers: 3,
      threadsPerWorker: 1,
    });
    expect(() => chooseParallelism({ ...small, ...wasm, workers: 2, threadsPerWorker: 2, cores: 4 })).toThrow(
      /threadsPerWorker 2 needs workers 1, got workers 2: OpenBLAS keeps one thread pool per process/,
    );
  });

  it('auto: a worker per core for a small student, whatever the kernels', () => {
    for (const kernels of ['openblas', 'wasm'] as const) {
      expect(chooseParallelism({ ...small, backend: 'wasm', kernels, workers: undefined, threadsPerWorker: 'auto', cores: 4 })).toEqual({
        workers: 4,
        threadsPerWorker: 1,
      });
    }
    // Without the openblas kernels, threads do nothing: a large student keeps a worker per core too.
    expect(
      chooseParallelism({ ...large, backend: 'wasm', kernels: 'wasm', workers: undefined, threadsPerWorker: 'auto', cores: 4 }),
    ).toEqual({
      workers: 4,
      threadsPerWorker: 1,
    });
    expect(chooseParallelism({ ...large, backend: 'cpu', kernels: 'auto', workers: 1, threadsPerWorker: 'auto', cores: 4 })).toEqual({
      workers: 1,
      threadsPerWorker: 1,
    });
  });

  it.runIf(NATIVE)('auto: a BLAS thread per core for one worker on a large student; a worker per core unless told', () => {
    const auto = { ...large, ...wasm, threadsPerWorker: 'auto' } as const;
    expect(chooseParallelism({ ...auto, workers: 1, cores: 4 })).toEqual({ workers: 1, threadsPerWorker: 4 });
    expect(chooseParallelism({ ...auto, workers: undefined, cores: 4 })).toEqual({ workers: 4, threadsPerWorker: 1 });
    expect(chooseParallelism({ ...auto, workers: 2, cores: 4 })).toEqual({ workers: 2, threadsPerWorker: 1 });
    expect(chooseParallelism({ ...auto, workers: undefined, cores: 1 })).toEqual({ workers: 1, threadsPerWorker: 1 });
    expect(chooseParallelism({ ...small, ...wasm, threadsPerWorker: 'auto', workers: 1, cores: 4 })).toEqual({
      workers: 1,
      threadsPerWorker: 1,
    });
  });

  it('the options and the CLI flag check the value and the combination, naming what to change', () => {
    const base = { teacher: 'teacher/model.json', student: 'mlp:8', train: {}, test: {} } as never as Parameters<typeof resolveConfig>[0];
    expect(() => resolveConfig({ ...base, threadsPerWorker: 0 })).toThrow(/threadsPerWorker must be an integer >= 1 or 'auto', got 0/);
    expect(() => resolveConfig({ ...base, threadsPerWorker: 2, workers: 2 })).toThrow(/threadsPerWorker 2 needs workers 1, got workers 2/);
    expect(resolveConfig({ ...base, threadsPerWorker: 2, workers: 1 }).threadsPerWorker).toBe(2);
    expect(resolveConfig(base).threadsPerWorker).toBe('auto');
    const flags = (value: string) => settingsFromFlags({ 'threads-per-worker': value } as RunFlags);
    expect(flags('auto')).toEqual({ threadsPerWorker: 'auto' });
    expect(flags('3')).toEqual({ threadsPerWorker: 3 });
    expect(() => flags('two')).toThrow(/--threads-per-worker expects an integer >= 1 or auto, got 'two'/);
  });

  it('the pool refuses several BLAS threads in several workers before starting any', async () => {
    await expect(TfjsPool.startTfjs({ workers: 2, backend: 'cpu', barrierTimeoutMs: 10_000, threadsPerWorker: 2 })).rejects.toThrow(
      /threadsPerWorker 2 needs workers 1/,
    );
  });
});

describe.runIf(NATIVE)('one worker on several BLAS threads', () => {
  let train: Dataset;
  let test: Dataset;
  beforeAll(async () => {
    ({ train, test } = await digitRows(512, 128));
  });

  // Multithreaded sgemm rounds differently from one thread (as another worker count does), but the same
  // thread count gives the same bits every time.
  it('trains the same student as one thread up to rounding, repeatably, and reports the threads', async () => {
    const run = (threadsPerWorker: number) =>
      distill({
        teacher: buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 1 }),
        student: buildModel('mlp:256,256', { inputShape: [28, 28], numClasses: 10, seed: 2 }),
        train,
        test,
        teacherEpochs: 1,
        epochs: 1,
        batchSize: 128,
        workers: 1,
        threadsPerWorker,
        backend: 'wasm',
        kernels: 'openblas',
        allowWeakTeacher: true, // one short epoch of teacher training: the threads are on trial here
      });
    const [one, two, again] = [await run(1), await run(2), await run(2)];
    expect(one.report.threadsPerWorker).toBe(1);
    expect(two.report.threadsPerWorker).toBe(2);
    expect(two.report.notices.join('\n')).toMatch(/OpenBLAS \([^)]*, 2 threads per worker\)/);
    const difference = (x: tf.LayersModel, y: tf.LayersModel) => {
      const [a, b] = [x.getWeights(), y.getWeights()];
      return Math.max(...a.map((w, i) => tf.max(tf.abs(tf.sub(w, b[i]))).dataSync()[0]));
    };
    expect(difference(two.student, again.student)).toBe(0);
    expect(difference(one.student, two.student)).toBeLessThan(1e-4);
    expect(two.report.student.accuracy).toBeCloseTo(one.report.student.accuracy, 2);
  });
});
