import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogitTable } from '../dist/data/logit-table.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { TOKEN_CONV_ENV } from '../dist/kernels/token-conv-loops.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { RunCheckpoint } from '../dist/train/checkpoint.js';
import { mulberry32 } from '../dist/random.js';
import { trainDataParallel } from '../dist/train/data-parallel.js';
import { planPhase } from '../dist/train/plan.js';
import { requiredBlas } from './helpers/native-blas.js';
import { scaledError } from './helpers/scaled-error.js';

// cnn1d students trained data-parallel with their pass without tfjs's tape (test/token-conv.test.ts holds the
// pass itself to the stock graph and autograd).

const MAX_LENGTH = 12;
const VOCAB = 30;
const CLASSES = 3;
const LOSS = { name: 'kd', temperature: 2, alpha: 0.5 } as const;

const cnn1d = (spec: string, seed: number) => buildModel(spec, { inputShape: [MAX_LENGTH], numClasses: CLASSES, vocabSize: VOCAB, seed });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// The fused pass trains in workers running the openblas kernels only.
describe.runIf('blas' in requiredBlas())('token conv: data-parallel training', () => {
  const TRAIN_ROWS = 40;
  /** W=2 pools with the fused pass (the default) and with it switched off (workers copy the environment when they start). */
  const pools: { fused?: TfjsPool; stock?: TfjsPool; single?: TfjsPool } = {};
  beforeAll(async () => {
    const switched = process.env[TOKEN_CONV_ENV];
    try {
      delete process.env[TOKEN_CONV_ENV];
      pools.fused = await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' });
      pools.single = await TfjsPool.startTfjs({ workers: 1, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' });
      process.env[TOKEN_CONV_ENV] = 'off';
      pools.stock = await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' });
    } finally {
      if (switched === undefined) delete process.env[TOKEN_CONV_ENV];
      else process.env[TOKEN_CONV_ENV] = switched;
    }
  });
  afterAll(async () => {
    for (const pool of Object.values(pools)) await pool?.destroy();
  });

  /**
   * Rows of random lengths (some all padding, some shorter than the kernel) whose tokens are distinct within
   * each row: the stock pass on the openblas kernels runs its conv as one sgemm too, which may round equal
   * windows apart and so break their ties by rounding; the tests above hold ties to the cpu backend's graph.
   */
  function distinctTokenRows(rows: number): Float32Array {
    const random = mulberry32(5);
    const ids = new Float32Array(rows * MAX_LENGTH);
    for (let r = 0; r < rows; r++) {
      const pool = Array.from({ length: VOCAB - 1 }, (_, i) => i + 1);
      const length = r % 7 === 0 ? 0 : 1 + Math.floor(random() * MAX_LENGTH);
      for (let t = 0; t < length; t++) ids[r * MAX_LENGTH + t] = pool.splice(Math.floor(random() * pool.length), 1)[0];
    }
    return ids;
  }

  async function train(pool: TfjsPool, workers: number) {
    const x = distinctTokenRows(TRAIN_ROWS);
    const y = Int32Array.from({ length: TRAIN_ROWS }, (_, i) => (i % 3 === 2 ? -1 : i % CLASSES));
    const data = SharedDataset.fromDataset({ x, y, shape: [TRAIN_ROWS, MAX_LENGTH], numClasses: CLASSES }, 'train');
    const soft = LogitTable.create(TRAIN_ROWS, CLASSES);
    const random = mulberry32(8);
    soft.values.set(Float32Array.from({ length: soft.values.length }, () => random() * 4 - 2));
    const model = cnn1d('cnn1d:6,8', 3);
    const outcome = await trainDataParallel(pool, {
      phase: 'student',
      model: shareModel(await modelToData(model)),
      trainableParams: model.countParams(),
      data,
      rows: Int32Array.from({ length: TRAIN_ROWS }, (_, i) => i),
      softLabels: soft,
      loss: LOSS,
      optimizer: { name: 'adam', learningRate: 0.01 },
      plan: planPhase({ rows: TRAIN_ROWS, batchSize: 10, workers, steps: 8 }),
      seed: 5,
      onNonFinite: 'abort',
      onProgress: () => {},
    });
    return { weights: new Float32Array(outcome.weights), loss: outcome.finalLoss };
  }

  it('W=2 repeats its bits, matches W=1 and the run with it switched off, and the fused pass ran', async () => {
    const [a, b] = [await train(pools.fused!, 2), await train(pools.fused!, 2)];
    expect(Buffer.from(a.weights.buffer).equals(Buffer.from(b.weights.buffer))).toBe(true);
    const one = await train(pools.single!, 1);
    const stock = await train(pools.stock!, 2);
    for (const other of [one, stock]) {
      expect(scaledError(a.weights, other.weights)).toBeLessThan(1e-4);
      expect(a.loss).toBeCloseTo(other.loss, 4);
    }
    // The two paths sum in other orders, so the same bits would mean that the fused pass did not run in the workers.
    expect(Buffer.from(a.weights.buffer).equals(Buffer.from(stock.weights.buffer))).toBe(false);
    const initial = cnn1d('cnn1d:6,8', 3).getWeights()[0].dataSync() as Float32Array;
    expect(scaledError(a.weights.subarray(0, initial.length), initial)).toBeGreaterThan(1e-3); // the weights moved: training ran
  });

  /**
   * A W=2 run with every option that changes the step but augmentation (which leaves text students to tfjs):
   * a warmup and cosine schedule, weight decay, gradient clipping, validation on held-out rows with early
   * stopping and keep 'best', and checkpoints more often than once per run; a teacher phase (hard labels, no
   * soft labels) when `teacher`.
   */
  async function trainWithEverything(pool: TfjsPool, teacher: boolean) {
    const heldOut = 10;
    const total = TRAIN_ROWS + heldOut;
    const x = distinctTokenRows(total);
    const y = Int32Array.from({ length: total }, (_, i) => (!teacher && i < TRAIN_ROWS && i % 3 === 2 ? -1 : (i * 7) % CLASSES));
    const data = SharedDataset.fromDataset({ x, y, shape: [total, MAX_LENGTH], numClasses: CLASSES }, 'train');
    const soft = LogitTable.create(total, CLASSES);
    const random = mulberry32(12);
    soft.values.set(Float32Array.from({ length: soft.values.length }, () => random() * 4 - 2));
    const model = cnn1d('cnn1d:6,8', 4);
    const dir = await mkdtemp(join(tmpdir(), 'token-conv-'));
    try {
      const phase = teacher ? 'teacher' : 'student';
      const checkpoint = await RunCheckpoint.open({ dir, everySteps: 3 }, {});
      const outcome = await trainDataParallel(pool, {
        phase,
        model: shareModel(await modelToData(model)),
        trainableParams: model.countParams(),
        data,
        rows: Int32Array.from({ length: TRAIN_ROWS }, (_, i) => i),
        softLabels: teacher ? undefined : soft,
        loss: teacher ? { name: 'hard' } : LOSS,
        optimizer: { name: 'adam', learningRate: 0.05 },
        rules: { lrSchedule: { name: 'cosine', warmupSteps: 2 }, weightDecay: 0.01, clipNorm: 0.5 },
        validation: {
          rows: Int32Array.from({ length: heldOut }, (_, i) => TRAIN_ROWS + i),
          earlyStopping: { patience: 2, metric: 'loss' },
          metric: 'loss',
          keep: 'best',
        },
        checkpoint: { path: checkpoint.phaseFile(phase), everySteps: 3 },
        plan: planPhase({ rows: TRAIN_ROWS, batchSize: 10, workers: 2, steps: 40 }),
        seed: 6,
        onNonFinite: 'abort',
        onProgress: () => {},
      });
      const saved = (await checkpoint.loadPhase(phase))!;
      return {
        kept: new Float32Array(outcome.weights),
        last: new Float32Array(saved.weights),
        best: new Float32Array(saved.bestWeights!),
        selection: outcome.selection!,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  for (const teacher of [false, true])
    it(`${teacher ? 'a teacher phase' : 'a student phase'} with validation, keep 'best', early stopping, checkpoints, a schedule, decay and clipping ends as with it switched off`, async () => {
      const fused = await trainWithEverything(pools.fused!, teacher);
      const stock = await trainWithEverything(pools.stock!, teacher);
      const { bestValue, ...selection } = fused.selection;
      const { bestValue: stockBestValue, ...stockSelection } = stock.selection;
      expect(selection).toEqual(stockSelection);
      expect(selection.stopped).toBe(true); // early stopping ended both runs, before the last epoch
      expect(bestValue).toBeCloseTo(stockBestValue, 5);
      for (const key of ['kept', 'last', 'best'] as const) {
        expect(scaledError(fused[key], stock[key]), key).toBeLessThan(1e-4);
        // The two paths sum in other orders: the same bits would mean that the fused pass did not run.
        expect(Buffer.from(fused[key].buffer).equals(Buffer.from(stock[key].buffer)), key).toBe(false);
      }
      expect(Buffer.from(fused.kept.buffer).equals(Buffer.from(fused.best.buffer))).toBe(true);
    });
});
