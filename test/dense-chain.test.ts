import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogitTable } from '../dist/data/logit-table.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { type DenseChainLoops, javascriptDenseChainLoops, nativeDenseChainLoops } from '../dist/kernels/dense-chain-loops.js';
import { buildModel } from '../dist/models/architectures.js';
import { denseChain } from '../dist/models/dense-chain.js';
import { modelFromData, modelToData, shareModel } from '../dist/models/model-data.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { mulberry32 } from '../dist/random.js';
import { trainDataParallel } from '../dist/train/data-parallel.js';
import { DenseChainBuffers, denseChainGradient, denseLayerViews, logitsLoss } from '../dist/train/dense-chain-step.js';
import { RunCheckpoint } from '../dist/train/checkpoint.js';
import { meanLoss } from '../dist/train/losses.js';
import { planPhase } from '../dist/train/plan.js';
import { requiredBlas } from './helpers/native-blas.js';
import { scaledError } from './helpers/scaled-error.js';

const ROWS = 11;
const CLASSES = 4;
const LOSS = { name: 'kd', temperature: 2, alpha: 0.7 } as const;
/** Values before the model's weights in the flat vectors, as a gradient slot or the shared weights may have. */
const PREFIX = 5;

/** The JavaScript reference, and the addon's loops where it loads (TFJS_DISTILL_REQUIRE_OPENBLAS=1 requires it). */
function implementations(): [string, DenseChainLoops][] {
  const load = requiredBlas();
  const javascript: [string, DenseChainLoops] = ['javascript', javascriptDenseChainLoops];
  return 'blas' in load ? [javascript, ['native', nativeDenseChainLoops(load.blas)]] : [javascript];
}

/** As a worker gets the model: saved, then loaded. */
const reloaded = async (model: tf.LayersModel) => modelFromData(await modelToData(model));

function seeded(length: number, seed: number, scale = 2): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length }, () => (random() * 2 - 1) * scale);
}

/** A model's trainable variables, their values laid out flat after PREFIX values (the shared weights' layout). */
function flatWeights(model: tf.LayersModel): { variables: tf.Variable[]; weights: Float32Array } {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const weights = new Float32Array(PREFIX + variables.reduce((sum, v) => sum + v.size, 0));
  let offset = PREFIX;
  for (const v of variables) {
    weights.set(v.dataSync(), offset);
    offset += v.size;
  }
  return { variables, weights };
}

/** The chain's logits and flat gradient (after PREFIX values) for rows `x`, through `loops`, its buffers sized for `maxRows`. */
function chainPass(model: tf.LayersModel, loops: DenseChainLoops, x: Float32Array, rows: number, targets: Targets, maxRows = rows) {
  const chain = denseChain(model)!;
  const { variables, weights } = flatWeights(model);
  // The views' offsets count from the variables' start; the PREFIX shifts every one of them.
  const layers = denseLayerViews(chain, variables).map((l) => ({
    ...l,
    kernelOffset: l.kernelOffset + PREFIX,
    biasOffset: l.biasOffset === -1 ? -1 : l.biasOffset + PREFIX,
  }));
  const grad = new Float32Array(weights.length).fill(7); // every weight's gradient overwritten; the prefix left alone
  const buffers = new DenseChainBuffers(layers, maxRows);
  let logits = new Float32Array(0);
  const { loss, bounded } = denseChainGradient(layers, loops, buffers, x, rows, weights, grad, (values, dLogits) => {
    logits = values.slice();
    return tf.tidy(() => logitsLoss(LOSS, values, CLASSES, dLogits, targets.tensors()));
  });
  expect(Array.from(grad.subarray(0, PREFIX))).toEqual(new Array(PREFIX).fill(7));
  return { logits, grad: grad.subarray(PREFIX), loss, bounded };
}

interface Targets {
  tensors(): { labels: tf.Tensor1D; teacher: tf.Tensor2D };
}

function targetsOf(rows: number): Targets {
  const labels = Int32Array.from({ length: rows }, (_, i) => (i % 3 === 2 ? -1 : i % CLASSES)); // some unlabelled
  const teacher = seeded(rows * CLASSES, 9);
  return { tensors: () => ({ labels: tf.tensor1d(labels, 'int32'), teacher: tf.tensor2d(teacher, [rows, CLASSES]) }) };
}

/** The stock graph's logits, and tfjs's autograd gradient of the same loss, flat in variable order. */
function stockPass(model: tf.LayersModel, x: Float32Array, rows: number, targets: Targets) {
  return tf.tidy(() => {
    const input = tf.tensor(x, [rows, ...(model.inputs[0].shape.slice(1) as number[])]);
    const logits = (model.apply(input) as tf.Tensor).dataSync() as Float32Array;
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => meanLoss(LOSS, { ...targets.tensors(), student: model.apply(input, { training: true }) as tf.Tensor2D }),
      variables,
    );
    const flat = new Float32Array(variables.reduce((sum, v) => sum + v.size, 0));
    let offset = 0;
    for (const v of variables) {
      flat.set(grads[v.name].dataSync(), offset);
      offset += v.size;
    }
    return { logits, grad: flat, loss: value.dataSync()[0] };
  });
}

/** Dense chains the tests train: mlp on image rows (a Flatten first), and layers the builder does not make. */
const CHAINS: [string, () => tf.LayersModel, number[]][] = [
  ['mlp:16,8 on [4, 3] rows (Flatten)', () => buildModel('mlp:16,8', { inputShape: [4, 3], numClasses: CLASSES, seed: 2 }), [4, 3]],
  [
    'a linear Dense, a ReLU layer, a Dense without bias, an Activation relu',
    () => {
      const kernelInitializer = tf.initializers.glorotUniform({ seed: 4 });
      const model = tf.sequential();
      model.add(tf.layers.dense({ inputShape: [12], units: 10, kernelInitializer }));
      model.add(tf.layers.reLU());
      model.add(tf.layers.dense({ units: 9, useBias: false, kernelInitializer }));
      model.add(tf.layers.activation({ activation: 'relu' }));
      model.add(tf.layers.dense({ units: CLASSES, kernelInitializer, biasInitializer: 'randomNormal' }));
      return model;
    },
    [12],
  ],
  [
    'a Dense relu last (some logits clipped to 0)',
    () => {
      const kernelInitializer = tf.initializers.glorotUniform({ seed: 6 });
      const model = tf.sequential();
      model.add(tf.layers.dense({ inputShape: [12], units: 10, activation: 'relu', kernelInitializer }));
      model.add(tf.layers.dense({ units: CLASSES, activation: 'relu', kernelInitializer, biasInitializer: 'randomNormal' }));
      return model;
    },
    [12],
  ],
];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Two Dense layers, the first's bias frozen (not trainable) when `frozen`: it still adds to the output. */
function withFrozenBias(frozen: boolean): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [5], units: 6 }), tf.layers.dense({ units: CLASSES })] });
  model.layers[0].weights[1].trainable = !frozen;
  return model;
}

describe('dense chain: recognising a plain dense student', () => {
  it("finds mlp's layers, their widths and activations", async () => {
    const chain = denseChain(await reloaded(buildModel('mlp:16,8', { inputShape: [4, 3], numClasses: CLASSES, seed: 2 })))!;
    expect(chain.inputWidth).toBe(12);
    expect(chain.layers.map(({ inWidth, units, relu }) => [inWidth, units, relu])).toEqual([
      [12, 16, true],
      [16, 8, true],
      [8, CLASSES, false],
    ]);
  });

  it('leaves any other model to tfjs: convolutions, dropout, regularisers, capped ReLUs, frozen weights, channelsFirst Flatten, shared layers, two inputs', async () => {
    const dense = (config: Partial<tf.layers.DenseLayerArgs> = {}) => tf.layers.dense({ units: CLASSES, ...config });
    const sequential = (...layers: tf.layers.Layer[]) => tf.sequential({ layers });
    const shared = tf.layers.dense({ units: 6, activation: 'relu' });
    const input = tf.input({ shape: [6] });
    const twice = tf.model({ inputs: input, outputs: dense().apply(shared.apply(shared.apply(input))) as tf.SymbolicTensor });
    const [a, b] = [tf.input({ shape: [3] }), tf.input({ shape: [3] })];
    const twoInputs = tf.model({ inputs: [a, b], outputs: dense().apply(tf.layers.add().apply([a, b])) as tf.SymbolicTensor });
    const frozenBias = withFrozenBias(true);
    const others = [
      buildModel('cnn:2', { inputShape: [8, 8, 1], numClasses: CLASSES, seed: 1 }),
      sequential(tf.layers.dense({ inputShape: [5], units: 6, activation: 'relu' }), tf.layers.dropout({ rate: 0.5 }), dense()),
      sequential(tf.layers.dense({ inputShape: [5], units: 6, kernelRegularizer: tf.regularizers.l2() }), dense()),
      sequential(tf.layers.dense({ inputShape: [5], units: 6 }), tf.layers.reLU({ maxValue: 6 }), dense()),
      sequential(tf.layers.dense({ inputShape: [5], units: 6, activation: 'tanh' }), dense()),
      sequential(tf.layers.dense({ inputShape: [3, 5], units: 6 }), tf.layers.flatten(), dense()), // Dense on rank-3 rows
      sequential(tf.layers.flatten({ inputShape: [3, 4], dataFormat: 'channelsFirst' }), dense()), // moves the channels last first
      frozenBias,
      twice,
      twoInputs,
    ];
    for (const model of others) expect(denseChain(model)).toBeUndefined();
  });

  it('takes the same models with a channelsLast Flatten and with the bias trainable', () => {
    const flat = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [3, 4], dataFormat: 'channelsLast' }), tf.layers.dense({ units: CLASSES })],
    });
    expect(denseChain(flat)?.inputWidth).toBe(12);
    expect(denseChain(withFrozenBias(false))?.layers.map(({ bias }) => bias !== undefined)).toEqual([true, true]);
  });
});

describe.each(implementations())('dense chain: %s loops', (_, loops) => {
  for (const [name, build, rowShape] of CHAINS) {
    it(`${name}: logits equal the stock graph's, the gradient tfjs's autograd`, async () => {
      const model = await reloaded(build());
      const width = rowShape.reduce((a, b) => a * b, 1);
      const x = seeded(ROWS * width, 5);
      const targets = targetsOf(ROWS);
      const chain = chainPass(model, loops, x, ROWS, targets);
      const stock = stockPass(model, x, ROWS, targets);
      expect(chain.bounded).toBe(true);
      expect(scaledError(chain.logits, stock.logits)).toBeLessThan(1e-6);
      expect(chain.loss).toBeCloseTo(stock.loss, 6);
      expect(scaledError(chain.grad, stock.grad)).toBeLessThan(1e-6);
      // Not a gradient of zeros matching zeros: the loss depends on every layer.
      expect(chain.grad.some((g) => Math.abs(g) > 1e-4)).toBe(true);
    });
  }

  it("the same rows give the same bits in buffers sized for more rows (as a rank's last, shorter slice)", async () => {
    const model = await reloaded(CHAINS[0][1]());
    const x = seeded(ROWS * 12, 6);
    const exact = chainPass(model, loops, x, ROWS, targetsOf(ROWS));
    const roomy = chainPass(model, loops, x, ROWS, targetsOf(ROWS), ROWS + 5);
    expect(Buffer.from(roomy.grad.slice().buffer).equals(Buffer.from(exact.grad.slice().buffer))).toBe(true);
    expect(Buffer.from(roomy.logits.buffer).equals(Buffer.from(exact.logits.buffer))).toBe(true);
  });

  it('a NaN row, or a NaN weight, makes the step non-finite as it makes the stock loss NaN', async () => {
    for (const [name, build] of CHAINS) {
      const model = await reloaded(build());
      const x = seeded(ROWS * 12, 3);
      x[2 * 12 + 5] = Number.NaN; // row 2
      const targets = targetsOf(ROWS);
      const [chain, stock] = [chainPass(model, loops, x, ROWS, targets), stockPass(model, x, ROWS, targets)];
      expect(Number.isNaN(stock.loss), name).toBe(true);
      expect(chain.bounded, name).toBe(false);
      // The ReLUs pass NaN through: the NaN row's logits are NaN, as the stock graph's are.
      expect(Array.from(chain.logits, Number.isNaN), name).toEqual(Array.from(stock.logits, Number.isNaN));
    }
    // A NaN in the first layer's bias: its pre-activation is NaN on every row, but no layer's input is.
    const model = await reloaded(CHAINS[1][1]());
    const [kernel, bias] = model.layers[0].getWeights();
    model.layers[0].setWeights([kernel, tf.tensor1d(Array.from(bias.dataSync(), (b, i) => (i === 0 ? Number.NaN : b)))]);
    const x = seeded(ROWS * 12, 3);
    const targets = targetsOf(ROWS);
    expect(Number.isNaN(stockPass(model, x, ROWS, targets).loss)).toBe(true);
    expect(chainPass(model, loops, x, ROWS, targets).bounded).toBe(false);
  });

  it('refuses arrays that overlap, naming them', () => {
    const layer = { inWidth: 2, units: 2, kernelOffset: 0, biasOffset: 4, relu: true };
    const weights = Float32Array.of(1, 2, 3, 4, 0, 0);
    const rows = new Float32Array(8);
    expect(() => loops.forward(layer, rows.subarray(0, 4), 2, weights, rows.subarray(2, 6))).toThrow(/input and out overlap/);
    expect(() => loops.forward(layer, rows.subarray(0, 4), 2, weights, weights.subarray(2))).toThrow(/kernel and out overlap/);
    const grad = new Float32Array(6);
    expect(() => loops.backward(layer, rows.subarray(0, 4), 2, weights, rows.subarray(4), grad, grad.subarray(2), true, 1)).toThrow(
      /grad's kernel and dInput overlap/,
    );
    expect(() => loops.backward(layer, rows.subarray(0, 4), 2, weights, grad.subarray(0, 4), grad, null, true, 1)).toThrow(
      /dOut and grad's kernel overlap/,
    );
    // Views of one buffer that share no values are fine.
    loops.forward(layer, rows.subarray(0, 4), 2, weights, rows.subarray(4));
  });

  it('backward reports whether the gradient it wrote is within the bound (false past it, and for NaN)', () => {
    const layer = { inWidth: 2, units: 2, kernelOffset: 0, biasOffset: 4, relu: false };
    const weights = Float32Array.of(1, 2, 3, 4, 0, 0);
    const backward = (input: Float32Array, dOut: Float32Array, limit: number) =>
      loops.backward(layer, input, 2, weights, dOut, new Float32Array(6), null, false, limit);
    const ones = Float32Array.of(1, 1, 1, 1);
    expect(backward(Float32Array.of(1e20, 1, 2, 3), ones, 2 ** 127)).toBe(true);
    expect(backward(Float32Array.of(1e20, 1, 2, 3), ones, 1e19)).toBe(false); // the kernel's gradient 1e20 + 2
    expect(backward(new Float32Array(4), Float32Array.of(1e20, 1, 1, 1), 1e19)).toBe(false); // the bias's alone: 1e20 + 1
    expect(backward(Float32Array.of(1, 1, 2, 3), Float32Array.of(Number.NaN, 1, 1, 1), 2 ** 127)).toBe(false);
    // Without a bias, the kernel's gradient alone: NaN is not within even an infinite limit.
    const noBias = { ...layer, biasOffset: -1 };
    const kernelOnly = (dOut: Float32Array) =>
      loops.backward(noBias, Float32Array.of(1, 1, 2, 3), 2, weights, dOut, new Float32Array(6), null, false, Number.POSITIVE_INFINITY);
    expect(kernelOnly(Float32Array.of(Number.NaN, 1, 1, 1))).toBe(false);
    expect(kernelOnly(Float32Array.of(1, 1, 1, 1))).toBe(true);
    // Factors whose sizes alone would not pass the bound, but whose products cancel: the entries decide (all 0).
    expect(backward(Float32Array.of(1e20, 0, 1e20, 0), Float32Array.of(1, 0, -1, 0), 1e19)).toBe(true);
  });
});

describe('dense chain: the native loops and the JavaScript reference', () => {
  const native = implementations().find(([name]) => name === 'native');
  it.skipIf(!native)('agree to float rounding on a wider chain', async () => {
    const model = await reloaded(buildModel('mlp:64,48', { inputShape: [40], numClasses: CLASSES, seed: 8 }));
    const x = seeded(ROWS * 40, 7);
    const targets = targetsOf(ROWS);
    const a = chainPass(model, javascriptDenseChainLoops, x, ROWS, targets);
    const b = chainPass(model, native![1], x, ROWS, targets);
    expect(scaledError(b.logits, a.logits)).toBeLessThan(1e-6);
    expect(scaledError(b.grad, a.grad)).toBeLessThan(1e-6);
  });
});

describe.runIf('blas' in requiredBlas())('dense chain: the loops a thread trains with', () => {
  it('a later non-wasm backend leaves no chain loops from an earlier openblas selection', async () => {
    const { initBackend } = await import('../dist/kernels/backend.js');
    const { denseChainLoops, javascriptDenseChainLoops, DENSE_CHAIN_ENV } = await import('../dist/kernels/dense-chain-loops.js');
    const switched = process.env[DENSE_CHAIN_ENV];
    delete process.env[DENSE_CHAIN_ENV];
    try {
      await initBackend(['wasm'], 'openblas');
      // The openblas selection installs the addon's loops: they run a layer as the JavaScript reference does.
      const selected = denseChainLoops();
      expect(selected).not.toBe(javascriptDenseChainLoops);
      const layer = { inWidth: 2, units: 3, relu: true, kernelOffset: 0, biasOffset: 6 };
      const weights = Float32Array.from([1, 2, 3, 4, 5, 6, -2, -0.5, 1]);
      const [native, reference] = [new Float32Array(3), new Float32Array(3)];
      selected!.forward(layer, Float32Array.from([2, -0.25]), 1, weights, native);
      javascriptDenseChainLoops.forward(layer, Float32Array.from([2, -0.25]), 1, weights, reference);
      expect(Array.from(native)).toEqual([0, 2.25, 5.5]);
      expect(Array.from(native)).toEqual(Array.from(reference));
      await initBackend(['cpu']);
      expect(denseChainLoops()).toBeUndefined();
    } finally {
      if (switched !== undefined) process.env[DENSE_CHAIN_ENV] = switched;
      await tf.setBackend('cpu');
    }
  });
});

// The chain trains in workers running the openblas kernels only.
describe.runIf('blas' in requiredBlas())('dense chain: data-parallel training', () => {
  const TRAIN_ROWS = 40;
  const FEATURES = 12;
  /** W=2 pools with the chain (the default) and with it switched off (workers copy the environment when they start). */
  const pools: { chain?: TfjsPool; tfjs?: TfjsPool; single?: TfjsPool } = {};
  beforeAll(async () => {
    const switched = process.env.TFJS_DISTILL_DENSE_CHAIN;
    try {
      delete process.env.TFJS_DISTILL_DENSE_CHAIN;
      pools.chain = await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' });
      pools.single = await TfjsPool.startTfjs({ workers: 1, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' });
      process.env.TFJS_DISTILL_DENSE_CHAIN = 'off';
      pools.tfjs = await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' });
    } finally {
      if (switched === undefined) delete process.env.TFJS_DISTILL_DENSE_CHAIN;
      else process.env.TFJS_DISTILL_DENSE_CHAIN = switched;
    }
  });
  afterAll(async () => {
    for (const pool of Object.values(pools)) await pool?.destroy();
  });

  async function train(pool: TfjsPool, workers: number) {
    const random = mulberry32(7);
    const x = Float32Array.from({ length: TRAIN_ROWS * FEATURES }, () => random() * 2 - 1);
    const y = Int32Array.from({ length: TRAIN_ROWS }, (_, i) => (i % 3 === 2 ? -1 : Math.floor(random() * CLASSES)));
    const data = SharedDataset.fromDataset({ x, y, shape: [TRAIN_ROWS, FEATURES], numClasses: CLASSES }, 'train');
    const soft = LogitTable.create(TRAIN_ROWS, CLASSES);
    soft.values.set(seeded(soft.values.length, 8));
    const model = buildModel('mlp:16,8', { inputShape: [FEATURES], numClasses: CLASSES, seed: 3 });
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

  it("with the chain, W=2 repeats its bits, matches W=1, and ends with the tfjs autograd run's weights", async () => {
    const [a, b] = [await train(pools.chain!, 2), await train(pools.chain!, 2)];
    expect(Buffer.from(a.weights.buffer).equals(Buffer.from(b.weights.buffer))).toBe(true);
    const one = await train(pools.single!, 1);
    const stock = await train(pools.tfjs!, 2);
    for (const other of [one, stock]) {
      expect(scaledError(a.weights, other.weights)).toBeLessThan(1e-4);
      expect(a.loss).toBeCloseTo(other.loss, 4);
    }
    // The two paths sum in other orders, so the same bits would mean that the chain did not run in the workers.
    expect(Buffer.from(a.weights.buffer).equals(Buffer.from(stock.weights.buffer))).toBe(false);
    // The weights moved: training ran.
    const initial = buildModel('mlp:16,8', { inputShape: [FEATURES], numClasses: CLASSES, seed: 3 })
      .getWeights()[0]
      .dataSync();
    expect(scaledError(a.weights.subarray(0, initial.length), initial as Float32Array)).toBeGreaterThan(1e-3);
  });

  /**
   * A W=2 run with every option that changes the step: image rows [4, 3, 1] (mlp's Flatten) with shifts and
   * flips, a warmup and cosine schedule, weight decay, gradient clipping, validation on held-out rows with
   * early stopping and keep 'best', and checkpoints more often than once per run.
   */
  async function trainWithEverything(pool: TfjsPool) {
    const [heldOut, shape] = [8, [4, 3, 1]];
    const total = TRAIN_ROWS + heldOut;
    const random = mulberry32(11);
    const x = Float32Array.from({ length: total * FEATURES }, () => random() * 2 - 1);
    const y = Int32Array.from({ length: total }, (_, i) => (i < TRAIN_ROWS && i % 3 === 2 ? -1 : Math.floor(random() * CLASSES)));
    const data = SharedDataset.fromDataset({ x, y, shape: [total, ...shape], numClasses: CLASSES }, 'train');
    const soft = LogitTable.create(total, CLASSES);
    soft.values.set(seeded(soft.values.length, 12));
    const model = buildModel('mlp:16,8', { inputShape: shape, numClasses: CLASSES, seed: 4 });
    const dir = await mkdtemp(join(tmpdir(), 'dense-chain-'));
    try {
      const checkpoint = await RunCheckpoint.open({ dir, everySteps: 3 }, {});
      const outcome = await trainDataParallel(pool, {
        phase: 'student',
        model: shareModel(await modelToData(model)),
        trainableParams: model.countParams(),
        data,
        rows: Int32Array.from({ length: TRAIN_ROWS }, (_, i) => i),
        softLabels: soft,
        loss: LOSS,
        optimizer: { name: 'adam', learningRate: 0.02 },
        rules: { lrSchedule: { name: 'cosine', warmupSteps: 2 }, weightDecay: 0.01, clipNorm: 0.5 },
        augment: { shift: 1, flip: true },
        validation: {
          rows: Int32Array.from({ length: heldOut }, (_, i) => TRAIN_ROWS + i),
          earlyStopping: { patience: 2, metric: 'loss' },
          metric: 'loss',
          keep: 'best',
        },
        checkpoint: { path: checkpoint.phaseFile('student'), everySteps: 3 },
        plan: planPhase({ rows: TRAIN_ROWS, batchSize: 10, workers: 2, steps: 16 }),
        seed: 6,
        onNonFinite: 'abort',
        onProgress: () => {},
      });
      const saved = (await checkpoint.loadPhase('student'))!;
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

  it("with validation, keep 'best', early stopping, checkpoints, a schedule, decay, clipping and augmentation, the chain ends as tfjs's autograd does", async () => {
    const chain = await trainWithEverything(pools.chain!);
    const stock = await trainWithEverything(pools.tfjs!);
    const { bestValue, ...selection } = chain.selection;
    const { bestValue: stockBestValue, ...stockSelection } = stock.selection;
    expect(selection).toEqual(stockSelection);
    expect(selection.stopped).toBe(true); // early stopping ended both runs, before the last epoch
    expect(bestValue).toBeCloseTo(stockBestValue, 5);
    for (const key of ['kept', 'last', 'best'] as const) {
      expect(scaledError(chain[key], stock[key]), key).toBeLessThan(1e-4);
      // The two paths sum in other orders: the same bits would mean that the chain did not run.
      expect(Buffer.from(chain[key].buffer).equals(Buffer.from(stock[key].buffer)), key).toBe(false);
    }
    expect(Buffer.from(chain.kept.buffer).equals(Buffer.from(chain.best.buffer))).toBe(true);
  });
});
