import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogitTable } from '../dist/data/logit-table.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { meanLoss } from '../dist/train/losses.js';
import { planPhase } from '../dist/train/plan.js';
import { BatchSchedule } from '../dist/train/schedule.js';
import { trainDataParallel } from '../dist/train/data-parallel.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { mulberry32 } from '../dist/random.js';

const ROWS = 60;
const FEATURES = 12;
const CLASSES = 4;
/** The models these tests train: an MLP on rows of 12 features, and a CNN (two conv + max-pool blocks) on 8x8 images. */
const MODELS = { mlp: { spec: 'mlp:16,8', rowShape: [FEATURES] }, cnn: { spec: 'cnn:2,3', rowShape: [8, 8, 1] } } as const;
type ModelKind = keyof typeof MODELS;

/** The kernel set `auto` must pick in the workers: openblas wherever the addon loads here. */
const blas = loadBlas();
const AUTO_KERNELS = 'blas' in blas ? 'openblas' : 'wasm';
if (AUTO_KERNELS === 'wasm' && process.env.TFJS_DISTILL_REQUIRE_OPENBLAS) {
  throw new Error(`TFJS_DISTILL_REQUIRE_OPENBLAS is set, but ${'error' in blas ? blas.error : ''}`);
}

function syntheticData(kind: ModelKind = 'mlp') {
  const random = mulberry32(7);
  const rowShape = MODELS[kind].rowShape;
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: ROWS * rowSize }, () => random() * 2 - 1);
  // Every third row unlabeled: it must contribute the distillation term only.
  const y = Int32Array.from({ length: ROWS }, (_, i) => (i % 3 === 2 ? -1 : Math.floor(random() * CLASSES)));
  const data = SharedDataset.fromDataset({ x, y, shape: [ROWS, ...rowShape], numClasses: CLASSES }, 'train');
  const soft = LogitTable.create(ROWS, CLASSES);
  for (let i = 0; i < soft.values.length; i++) soft.values[i] = random() * 4 - 2;
  return { data, soft };
}

/** A global batch of the synthetic MLP data as the tensors a single-thread reference loop trains on. */
function batchTensors({ data, soft }: ReturnType<typeof syntheticData>, batch: Int32Array) {
  const n = batch.length;
  return {
    x: tf.tensor2d(data.gatherFeatures(batch, 0, n, new Float32Array(n * FEATURES)), [n, FEATURES]),
    labels: tf.tensor1d(data.gatherLabels(batch, 0, n, new Int32Array(n)), 'int32'),
    teacher: tf.tensor2d(soft.gather(batch, 0, n, new Float32Array(n * CLASSES)), [n, CLASSES]),
  };
}

const pools = new Map<number, TfjsPool>();
/** Pools on the wasm kernel set (the exchange loops in JavaScript), beside the `auto` ones (openblas where it loads). */
const wasmKernelPools = new Map<number, TfjsPool>();

/** The learning rate of each optimizer in these tests. */
const RATES = { sgd: 0.1, adam: 0.01, momentum: 0.05 } as const;

async function train(
  workers: number,
  optimizer: 'sgd' | 'adam' | 'momentum',
  batchSize: number,
  kernels: 'auto' | 'wasm' = 'auto',
  rules?: Parameters<typeof trainDataParallel>[1]['rules'],
  kind: ModelKind = 'mlp',
) {
  const pool = (kernels === 'wasm' ? wasmKernelPools : pools).get(workers)!;
  const { data, soft } = syntheticData(kind);
  const model = buildModel(MODELS[kind].spec, { inputShape: [...MODELS[kind].rowShape], numClasses: CLASSES, seed: 3 });
  const trainable = model.countParams();
  const outcome = await trainDataParallel(pool, {
    phase: 'student',
    model: shareModel(await modelToData(model)),
    trainableParams: trainable,
    data,
    rows: Int32Array.from({ length: ROWS }, (_, i) => i),
    softLabels: soft,
    loss: { name: 'kd', temperature: 2, alpha: 0.7 },
    optimizer: { name: optimizer, learningRate: RATES[optimizer] },
    rules,
    // batch 10: 6 steps per epoch, so a second epoch with a fresh shuffle too
    plan: planPhase({ rows: ROWS, batchSize, workers, steps: 8 }),
    seed: 5,
    onNonFinite: 'abort',
    onProgress: () => {},
  });
  // pool.kernels is what every worker reported registering when the pool started (they must agree).
  return { weights: new Float32Array(outcome.weights), outcome, kernels: pool.kernels };
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('data-parallel training', () => {
  beforeAll(async () => {
    for (const workers of [1, 2, 3])
      pools.set(workers, await TfjsPool.startTfjs({ workers, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' }));
    for (const workers of [1, 2, 3])
      wasmKernelPools.set(workers, await TfjsPool.startTfjs({ workers, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'wasm' }));
    // What the workers registered, not what was asked: auto must not quietly be the wasm set (the addon failing
    // to load in the workers while it loads here), or the both-sets tests below test one set twice.
    expect([...wasmKernelPools.values()].map((pool) => pool.kernels)).toEqual(['wasm', 'wasm', 'wasm']);
    expect([...pools.values()].map((pool) => pool.kernels)).toEqual([AUTO_KERNELS, AUTO_KERNELS, AUTO_KERNELS]);
  });
  afterAll(async () => {
    for (const pool of [...pools.values(), ...wasmKernelPools.values()]) await pool.destroy();
  });

  for (const optimizer of ['sgd', 'adam'] as const) {
    it(`${optimizer}: W=2 and W=3 (uneven slices of a batch of 10) end with W=1's weights`, async () => {
      const one = await train(1, optimizer, 10);
      const initial = new Float32Array(
        (await modelToData(buildModel('mlp:16,8', { inputShape: [FEATURES], numClasses: CLASSES, seed: 3 }))).weights,
      );
      expect(maxAbsDiff(one.weights, initial)).toBeGreaterThan(1e-3); // training moved the weights
      expect(one.outcome.steps).toBe(8);
      expect(one.outcome.samples).toBe(80);
      for (const workers of [2, 3]) {
        const many = await train(workers, optimizer, 10);
        expect(maxAbsDiff(many.weights, one.weights)).toBeLessThanOrEqual(1e-4);
        expect(many.outcome.finalLoss).toBeCloseTo(one.outcome.finalLoss, 4);
        // Each rank reports where its step time went, the first step (one-off costs) timed apart.
        expect(many.outcome.firstStepSeconds).toBeGreaterThan(0);
        expect(many.outcome.firstStepSeconds).toBeLessThan(many.outcome.seconds);
        expect(many.outcome.timings).toHaveLength(workers);
        for (const t of many.outcome.timings) {
          expect(t.gradientSeconds).toBeGreaterThan(0);
          expect(t.allReduceSeconds).toBeGreaterThan(0);
          expect(t.waitSeconds).toBeGreaterThanOrEqual(0);
          expect(t.waitSeconds).toBeLessThanOrEqual(t.allReduceSeconds);
        }
        // The parts of rank 0's steps fit in rank 0's own time after its first step (other ranks may finish
        // later than rank 0, so only its own clock bounds them).
        const own = many.outcome.timings[0];
        expect(own.gradientSeconds + own.allReduceSeconds + own.applySeconds).toBeLessThanOrEqual(
          many.outcome.seconds - many.outcome.firstStepSeconds + 0.005,
        );
      }
    });
  }

  it("cnn: W=2 and W=3 end with W=1's weights, with each kernel set available", async () => {
    const initial = new Float32Array(
      (await modelToData(buildModel(MODELS.cnn.spec, { inputShape: [...MODELS.cnn.rowShape], numClasses: CLASSES, seed: 3 }))).weights,
    );
    const sets = AUTO_KERNELS === 'openblas' ? (['auto', 'wasm'] as const) : (['wasm'] as const);
    for (const kernels of sets) {
      const one = await train(1, 'sgd', 10, kernels, undefined, 'cnn');
      expect(one.kernels).toBe(kernels === 'auto' ? AUTO_KERNELS : 'wasm');
      expect(maxAbsDiff(one.weights, initial)).toBeGreaterThan(1e-3); // training moved the weights
      expect(one.outcome.steps).toBe(8);
      for (const workers of [2, 3]) {
        const many = await train(workers, 'sgd', 10, kernels, undefined, 'cnn');
        expect(many.kernels).toBe(one.kernels);
        expect(maxAbsDiff(many.weights, one.weights), `${one.kernels} W=${workers}`).toBeLessThanOrEqual(1e-4);
        expect(many.outcome.finalLoss).toBeCloseTo(one.outcome.finalLoss, 4);
      }
    }
  });

  it('the same seed and worker count reproduce the same weights exactly', async () => {
    const a = await train(3, 'adam', 10);
    const b = await train(3, 'adam', 10);
    expect(Buffer.from(a.weights.buffer).equals(Buffer.from(b.weights.buffer))).toBe(true);
  });

  it('a last batch smaller than the worker count (empty slices) still matches W=1', async () => {
    // 60 rows in batches of 29: the third batch has 2 rows, so with W=3 one rank has none.
    const one = await train(1, 'sgd', 29);
    const three = await train(3, 'sgd', 29);
    expect(maxAbsDiff(three.weights, one.weights)).toBeLessThanOrEqual(1e-4);
  });

  const diverging = async (pool: TfjsPool, onNonFinite: 'abort' | 'skip') => {
    const { data } = syntheticData();
    const model = buildModel('mlp:16', { inputShape: [FEATURES], numClasses: CLASSES, seed: 3 });
    return trainDataParallel(pool, {
      phase: 'baseline',
      model: shareModel(await modelToData(model)),
      trainableParams: model.countParams(),
      data,
      rows: data.labeledRows(),
      loss: { name: 'hard' },
      optimizer: { name: 'sgd', learningRate: 1e30 },
      plan: planPhase({ rows: data.labeledRows().length, batchSize: 10, workers: pool.workers, steps: 20 }),
      seed: 1,
      onNonFinite,
      onProgress: () => {},
    });
  };

  it('a non-finite averaged gradient stops every rank before the update, naming the step; the failure is not retryable', async () => {
    const pool = pools.get(2)!;
    const run = diverging(pool, 'abort');
    await expect(run).rejects.toThrow(
      /^baseline training diverged: the averaged gradient or loss \((NaN|Infinity|-Infinity|[-\d.e+]+)\) is not finite at step \d+ \(epoch \d+\); lower the learning rate \(optimizer\.learningRate\), or skip such steps with onNonFinite 'skip' \(worker [01]\)$/,
    );
    await expect(run).rejects.toMatchObject({ retryable: false });
    // A failure tears the pool down; the next phase needs a new one.
    await expect(train(2, 'sgd', 10)).rejects.toThrow(/the worker pool was stopped after a failure/);
    pools.set(2, await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' }));
    expect(pools.get(2)!.kernels).toBe(AUTO_KERNELS);
  });

  it("onNonFinite 'skip' leaves the weights untouched on such steps and counts them", async () => {
    const outcome = await diverging(pools.get(2)!, 'skip');
    expect(outcome.steps).toBe(20);
    expect(outcome.skippedSteps).toBeGreaterThan(0);
    expect(outcome.skippedSteps).toBeLessThan(20); // the first step's gradient is finite: it is applied
    expect(new Float32Array(outcome.weights).every(Number.isFinite)).toBe(true);
  });

  for (const optimizer of ['sgd', 'adam', 'momentum'] as const) {
    it(`${optimizer}: W=1 and W=3, with either kernel set, follow a plain single-thread tf.train.${optimizer} loop over the same global batches`, async () => {
      // Reference on the main thread (cpu backend): full global batches, no slicing, no averaging.
      const { data, soft } = syntheticData();
      const model = buildModel('mlp:16,8', { inputShape: [FEATURES], numClasses: CLASSES, seed: 3 });
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const reference =
        optimizer === 'sgd'
          ? tf.train.sgd(RATES.sgd)
          : optimizer === 'adam'
            ? tf.train.adam(RATES.adam)
            : tf.train.momentum(RATES.momentum, 0.9);
      const schedule = new BatchSchedule(
        Int32Array.from({ length: ROWS }, (_, i) => i),
        planPhase({ rows: ROWS, batchSize: 10, workers: 1, epochs: 1 }),
        5,
      );
      for (let step = 0; step < 8; step++) {
        const batch = schedule.batch(step);
        tf.tidy(() => {
          const { x, labels, teacher } = batchTensors({ data, soft }, batch);
          const loss = () =>
            meanLoss({ name: 'kd', temperature: 2, alpha: 0.7 }, { student: model.apply(x) as tf.Tensor2D, teacher, labels });
          reference.minimize(loss, false, variables);
        });
      }
      const expected = new Float32Array((await modelToData(model)).weights);
      const ran = new Map<string, Float32Array>();
      for (const kernels of ['auto', 'wasm'] as const) {
        for (const workers of [1, 3]) {
          const result = await train(workers, optimizer, 10, kernels);
          expect(result.kernels, `${kernels} pool, W=${workers}`).toBe(kernels === 'auto' ? AUTO_KERNELS : 'wasm');
          expect(maxAbsDiff(result.weights, expected)).toBeLessThanOrEqual(1e-4);
          ran.set(`${result.kernels} W=${workers}`, result.weights);
        }
      }
      // Both sets really ran where both exist: their float32 arithmetic differs (sgemm vs XNNPACK, C vs
      // JavaScript exchange loops), so identical bits would mean one set ran twice.
      expect(new Set([...ran.keys()].map((key) => key.split(' ')[0])).size).toBe(AUTO_KERNELS === 'openblas' ? 2 : 1);
      if (AUTO_KERNELS === 'openblas') {
        for (const workers of [1, 3]) {
          const [native, wasm] = [ran.get(`openblas W=${workers}`)!, ran.get(`wasm W=${workers}`)!];
          expect(Buffer.from(native.buffer).equals(Buffer.from(wasm.buffer)), `W=${workers}`).toBe(false);
        }
      }
    });
  }

  it('a cosine schedule with warmup, weight decay and gradient clipping: W=1 and W=3 follow the same rules written out on one thread', async () => {
    const rules = { lrSchedule: { name: 'cosine', warmupSteps: 3, minLearningRate: 0.01 }, weightDecay: 0.5, clipNorm: 0.2 } as const;
    // Reference: SGD on the main thread with the rules applied by hand to the full global batch's gradient.
    const { data, soft } = syntheticData();
    const model = buildModel('mlp:16,8', { inputShape: [FEATURES], numClasses: CLASSES, seed: 3 });
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const schedule = new BatchSchedule(
      Int32Array.from({ length: ROWS }, (_, i) => i),
      planPhase({ rows: ROWS, batchSize: 10, workers: 1, steps: 8 }),
      5,
    );
    let clipped = 0;
    for (let step = 0; step < 8; step++) {
      const lr = step < 3 ? (RATES.sgd * (step + 1)) / 3 : 0.01 + ((RATES.sgd - 0.01) * (1 + Math.cos((Math.PI * (step - 3)) / 5))) / 2;
      const batch = schedule.batch(step);
      tf.tidy(() => {
        const { x, labels, teacher } = batchTensors({ data, soft }, batch);
        const { grads } = tf.variableGrads(
          () => meanLoss({ name: 'kd', temperature: 2, alpha: 0.7 }, { student: model.apply(x) as tf.Tensor2D, teacher, labels }),
          variables,
        );
        const norm = Math.sqrt(variables.reduce((sum, v) => sum + tf.sum(tf.square(grads[v.name])).dataSync()[0], 0));
        const scale = norm > 0.2 ? 0.2 / norm : 1;
        if (scale < 1) clipped++;
        for (const v of variables) v.assign(tf.sub(tf.mul(v, 1 - lr * 0.5), tf.mul(grads[v.name], lr * scale)));
      });
    }
    expect(clipped).toBeGreaterThan(0); // the clipping really happened in this run
    const expected = new Float32Array((await modelToData(model)).weights);
    const one = await train(1, 'sgd', 10, 'auto', rules);
    const three = await train(3, 'sgd', 10, 'auto', rules);
    expect(maxAbsDiff(one.weights, expected)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(three.weights, expected)).toBeLessThanOrEqual(1e-4);
    // And the rules changed the result: without them the weights differ.
    expect(maxAbsDiff((await train(1, 'sgd', 10)).weights, expected)).toBeGreaterThan(1e-3);
  });
});
