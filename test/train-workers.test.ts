import * as tfjs from '@tensorflow/tfjs';
import type * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, type DistillOptions, DistillError, type ProgressEvent, buildModel, distill } from '../dist/index.js';
import { summaryTable } from '../dist/cli/summary-table.js';
import { forwardMultiplyAdds } from '../dist/models/multiply-adds.js';
import { TRAIN_RANKS_MIN_WORK, chooseTrainWorkers } from '../dist/options/parallelism.js';
import { resolveConfig } from '../dist/options/options.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { runCli } from './helpers/cli.js';
import { digitRows } from './helpers/digits.js';

let train: Dataset;
let test: Dataset;
let dir: string;
const model = (spec: string, seed: number) => buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed });
const weightsOf = (m: tf.LayersModel) => new Float32Array(m.getWeights().flatMap((w) => [...w.dataSync()]));

/** A short run of `student` (an untrained teacher: the ranks are on trial here), 2 epochs of batch 64 over 512 rows. */
function options(student: string, extra: Partial<DistillOptions> = {}): DistillOptions {
  return {
    teacher: model('mlp:16', 1),
    student: model(student, 2),
    train,
    test,
    epochs: 2,
    batchSize: 64,
    workers: 2,
    allowWeakTeacher: true,
    ...extra,
  };
}

describe('trainWorkers: the ranks training runs on', () => {
  beforeAll(async () => {
    ({ train, test } = await digitRows(512, 128));
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-train-workers-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a pool's first ranks run a collective on those threads alone, and the pool serves every thread after it", async () => {
    const pool = await TfjsPool.startTfjs({ workers: 2, backend: 'cpu', barrierTimeoutMs: 20_000, threadsPerWorker: 1 });
    try {
      expect(pool.firstRanks(2)).toBe(pool);
      expect(() => pool.firstRanks(3)).toThrow(/^internal: 3 ranks asked of a pool of 2 workers$/);
      const first = pool.firstRanks(1);
      expect(first.workers).toBe(1);
      const ranks: number[] = [];
      const done = await first.runOnEveryRank<boolean>(
        (rank) => {
          ranks.push(rank);
          return { task: { kind: 'forget' } };
        },
        { barriers: [] },
      );
      expect([ranks, done]).toEqual([[0], [true]]);
      // Both threads are still the ones started (nothing failed) and take a collective of every rank.
      expect(await pool.forgetRun()).toBe(true);
    } finally {
      await pool.destroy();
    }
  });

  it('counts multiply-adds per row: dense kernels once, convolutions at every output position, embeddings per value', () => {
    expect(forwardMultiplyAdds(model('mlp:16', 1))).toBe(784 * 16 + 16 * 10);
    // cnn:4: a 3x3 same convolution of 1 channel into 4 over 28x28, a 2x2 pool, a dense 128, then 10.
    expect(forwardMultiplyAdds(model('cnn:4', 1))).toBe(28 * 28 * 9 * 4 + 14 * 14 * 4 * 128 + 128 * 10);
    const bag = buildModel('bag:8', { inputShape: [20], numClasses: 2, vocabSize: 50 });
    // The padding mask's frozen 1x1 dense at each of the 20 tokens, the embedding's 20 x 8 values, the output layer.
    expect(forwardMultiplyAdds(bag)).toBe(20 * 1 + 20 * 8 + 8 * 2);
  });

  it("counts a model's own calls: a layer shared with another model once, a nested model once per call", () => {
    const shared = tfjs.layers.dense({ units: 4 });
    const first = tfjs.input({ shape: [8] });
    const second = tfjs.input({ shape: [8] });
    const one = tfjs.model({ inputs: first, outputs: shared.apply(first) as tf.SymbolicTensor });
    tfjs.model({ inputs: second, outputs: shared.apply(second) as tf.SymbolicTensor });
    expect(forwardMultiplyAdds(one)).toBe(8 * 4);
    const inner = tfjs.sequential({ layers: [tfjs.layers.dense({ inputShape: [8], units: 3 })] });
    const x = tfjs.input({ shape: [8] });
    const twice = tfjs.layers.concatenate().apply([inner.apply(x), inner.apply(x)] as tf.SymbolicTensor[]) as tf.SymbolicTensor;
    expect(forwardMultiplyAdds(tfjs.model({ inputs: x, outputs: twice }))).toBe(2 * 8 * 3);
  });

  it("auto: a rank per TRAIN_RANKS_MIN_WORK of a step's work beyond the first, at most the workers and the batch; the workers when given; a number as given", () => {
    const work = (multiple: number, batchSize = 64) => ({
      multiplyAdds: (multiple * TRAIN_RANKS_MIN_WORK) / batchSize,
      batchSize,
      workersGiven: false,
    });
    const auto = (workers: number, inputs: ReturnType<typeof work>) => chooseTrainWorkers({ trainWorkers: 'auto', workers, ...inputs });
    expect([0.99, 1, 1.99, 2, 3, 7].map((multiple) => auto(8, work(multiple)))).toEqual([1, 2, 2, 3, 4, 8]);
    // On two workers, one rank below the threshold and both from it; never more ranks than the batch has rows.
    expect([0.99, 1, 5].map((multiple) => auto(2, work(multiple)))).toEqual([1, 2, 2]);
    expect(auto(8, work(100, 4))).toBe(4);
    expect(chooseTrainWorkers({ trainWorkers: 'auto', workers: 4, ...work(0.5), workersGiven: true })).toBe(4);
    expect(chooseTrainWorkers({ trainWorkers: 3, workers: 4, ...work(0.5), batchSize: 1 })).toBe(3);
    expect(() => chooseTrainWorkers({ trainWorkers: 3, workers: 2, ...work(1) })).toThrow(
      /^trainWorkers 3 is more than workers 2: training runs on the pool's first ranks; lower trainWorkers \(or set it to 'auto'\), or raise workers$/,
    );
    // More than one BLAS thread makes the pool one worker: the fix is fewer threads, not more workers.
    expect(() => chooseTrainWorkers({ trainWorkers: 2, workers: 1, ...work(1), threadsPerWorker: 2 })).toThrow(
      /^trainWorkers 2 is more than workers 1: threadsPerWorker 2 needs a pool of one worker; lower trainWorkers \(or set it to 'auto'\), or lower threadsPerWorker$/,
    );
  });

  it('needs a row per training worker in the batch, not per worker of the pool', () => {
    expect(() => resolveConfig({ ...options('mlp:8'), batchSize: 1, trainWorkers: 1 })).not.toThrow();
    expect(() => resolveConfig({ ...options('mlp:8'), batchSize: 1, workers: undefined })).not.toThrow();
    expect(() => resolveConfig({ ...options('mlp:8'), batchSize: 1, workers: 4, trainWorkers: 2 })).toThrow(
      /^batchSize 1 is smaller than trainWorkers 2: every training worker needs at least one row per step; raise batchSize or lower trainWorkers$/,
    );
    // auto with workers given trains on all of them.
    expect(() => resolveConfig({ ...options('mlp:8'), batchSize: 1 })).toThrow(
      /^batchSize 1 is smaller than workers 2: .*; raise batchSize or lower workers \(or set trainWorkers\)$/,
    );
  });

  it('refuses bad values with one line naming the option, in the library and on the CLI', async () => {
    for (const bad of [0, 1.5, 'two', -1]) {
      expect(() => resolveConfig({ ...options('mlp:8'), trainWorkers: bad as number })).toThrow(
        new RegExp(`^trainWorkers must be an integer >= 1 or 'auto', got ${bad}$`),
      );
    }
    const tooMany = (() => {
      try {
        resolveConfig({ ...options('mlp:8'), trainWorkers: 3 });
      } catch (error) {
        return error as DistillError;
      }
    })();
    expect(tooMany).toBeInstanceOf(DistillError);
    expect(tooMany!.message).toMatch(
      /^trainWorkers 3 is more than workers 2: .*; lower trainWorkers \(or set it to 'auto'\), or raise workers$/,
    );
    // More than one BLAS thread makes the pool one worker: the training workers cannot be more.
    await expect(distill({ ...options('mlp:8'), workers: undefined, threadsPerWorker: 2, trainWorkers: 2 })).rejects.toThrow(
      /^trainWorkers 2 is more than workers 1: threadsPerWorker 2 needs a pool of one worker; .*or lower threadsPerWorker$/,
    );
    const cliError = (...flags: string[]) => {
      const out = join(dir, `bad-${Math.random().toString(36).slice(2)}`);
      const base = ['--data', 'mnist', '--limit', '300', '--teacher-arch', 'mlp:16', '--student-arch', 'mlp:8', '--epochs', '1'];
      const result = runCli(['run', ...base, '--allow-weak-teacher', '--out', out, ...flags]);
      expect(result.status).toBe(1);
      expect(existsSync(join(out, 'report.json'))).toBe(false);
      const lines = result.stderr.trim().split('\n');
      expect(lines.filter((line) => line.startsWith('tfjs-distill:'))).toHaveLength(1);
      return lines[lines.length - 1];
    };
    expect(cliError('--train-workers', 'two')).toMatch(/^tfjs-distill: error: --train-workers expects an integer >= 1 or auto, got 'two'$/);
    expect(cliError('--train-workers', '0')).toMatch(/^tfjs-distill: error: --train-workers expects an integer >= 1 or auto, got '0'$/);
    expect(cliError('--workers', '2', '--train-workers', '3')).toMatch(
      /^tfjs-distill: error: --train-workers 3 is more than --workers 2: .*lower --train-workers .*or raise --workers$/,
    );
    expect(cliError('--threads-per-worker', '2', '--train-workers', '2')).toMatch(
      /^tfjs-distill: error: --train-workers 2 is more than --workers 1: --threads-per-worker 2 needs .*or lower --threads-per-worker$/,
    );
  });

  it('auto in the default pool (a worker per core): a small student trains on 1 rank, a large one on more; the report says so', async () => {
    // The pool is a worker per core of this machine: the expected ranks follow from its core count.
    const cores = availableParallelism();
    const autoRanks = (student: tf.LayersModel) =>
      Math.min(cores, 64, 1 + Math.floor((forwardMultiplyAdds(student) * 64) / TRAIN_RANKS_MIN_WORK));
    const small = options('mlp:8', { workers: undefined });
    expect(forwardMultiplyAdds(small.student as tf.LayersModel) * 64).toBeLessThan(TRAIN_RANKS_MIN_WORK);
    const smallRun = await distill(small);
    expect(smallRun.report).toMatchObject({ workers: cores, trainWorkers: 1 });
    expect(smallRun.report.phases).toEqual([expect.objectContaining({ phase: 'student', workers: 1 })]);
    const plural = cores === 1 ? '' : 's';
    // The summary names the training ranks only where they are fewer than the workers.
    expect(summaryTable(smallRun.report, { teacher: 'mlp:16', student: 'mlp:8' })).toMatch(
      new RegExp(`, ${cores} worker${plural}${cores > 1 ? ', student trained on 1' : ''}; setup`),
    );

    const large = options('mlp:512', { workers: undefined });
    expect(forwardMultiplyAdds(large.student as tf.LayersModel) * 64).toBeGreaterThanOrEqual(TRAIN_RANKS_MIN_WORK);
    const largeRanks = autoRanks(large.student as tf.LayersModel);
    expect(largeRanks).toBe(Math.min(cores, 2));
    const largeRun = await distill({ ...large, baseline: true, labeled: 256 });
    expect(largeRun.report).toMatchObject({ workers: cores, trainWorkers: largeRanks });
    expect(largeRun.report.phases.map((p) => [p.phase, p.workers])).toEqual([
      ['student', largeRanks],
      ['baseline', largeRanks],
    ]);
    // Workers given: the small student trains on all of them; trainWorkers forces a count.
    const given = await distill(options('mlp:8'));
    expect(given.report).toMatchObject({ workers: 2, trainWorkers: 2 });
    expect(summaryTable(given.report, { teacher: 'mlp:16', student: 'mlp:8' })).toMatch(/, 2 workers; setup/);
    const forced = await distill({ ...large, workers: 2, trainWorkers: 1 });
    expect(forced.report).toMatchObject({ workers: 2, trainWorkers: 1 });
  });

  it('trainWorkers 1 in a 2-worker pool gives the weights of a 1-worker run (same seed); 2 ranks give others', async () => {
    const oneOfTwo = await distill(options('mlp:8', { trainWorkers: 1 }));
    const alone = await distill(options('mlp:8', { workers: 1 }));
    expect(weightsOf(oneOfTwo.student)).toEqual(weightsOf(alone.student));
    const both = await distill(options('mlp:8', { trainWorkers: 2 }));
    expect(both.report.trainWorkers).toBe(2);
    expect(weightsOf(both.student)).not.toEqual(weightsOf(alone.student));
  });

  it('a checkpoint records its ranks: resumed on another count, the run goes on and says so', async () => {
    const checkpoint = { dir: join(dir, 'resume'), everySteps: 4 };
    const abort = new AbortController();
    const onProgress = (e: ProgressEvent) => e.phase === 'student' && e.done >= 6 && abort.abort();
    await expect(distill(options('mlp:8', { trainWorkers: 2, checkpoint, signal: abort.signal, onProgress }))).rejects.toThrow(
      /^cancelled during student training at step \d+ of 16; its state is checkpointed$/,
    );
    const resumed = await distill(options('mlp:8', { trainWorkers: 1, checkpoint: { ...checkpoint, resume: true } }));
    expect(resumed.report.resumed).toEqual(['label', expect.stringMatching(/^student from step \d+$/)]);
    expect(resumed.report.phases[0]).toMatchObject({ phase: 'student', workers: 1, checkpointWorkers: 2 });
    expect(resumed.report.notices).toContain(
      'student training continued on 1 training worker from a checkpoint trained on 2 training workers',
    );
    expect(resumed.report.trainWorkers).toBe(1);
    // Resumed again on 2: the student phase, finished in the checkpoint on 1, is not trained again and reports 1.
    const finished = await distill(options('mlp:8', { trainWorkers: 2, checkpoint: { ...checkpoint, resume: true } }));
    expect(finished.report.resumed).toEqual(['label', 'student']);
    expect(finished.report.phases[0]).toMatchObject({ phase: 'student', workers: 1, runWorkers: 2 });
    expect(finished.report.trainWorkers).toBe(1);
    expect(finished.report.notices).toContain(
      "student training was finished in a checkpoint trained on 1 training worker, not again on this run's 2",
    );
    expect(weightsOf(finished.student)).toEqual(weightsOf(resumed.student));
  });
});
