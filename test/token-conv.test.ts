import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../dist/kernels/backend.js';
import { useJavascriptLoops } from '../dist/kernels/thread-loops.js';
import {
  javascriptTokenConvStudentLoops,
  nativeTokenConvStudentLoops,
  TOKEN_CONV_ENV,
  TokenConvBuffers,
  type TokenConvStudentLoops,
  tokenConvLoops,
} from '../dist/kernels/token-conv-loops.js';
import { buildModel } from '../dist/models/architectures.js';
import { realTokens, zeroPadding } from '../dist/models/architectures/token-layers.js';
import { modelFromData, modelToData } from '../dist/models/model-data.js';
import { tokenConv } from '../dist/models/token-conv.js';
import { tokenFront } from '../dist/models/token-front.js';
import { mulberry32 } from '../dist/random.js';
import { DenseChainBuffers, denseChainGradient, denseLayerViews, logitsLoss } from '../dist/train/dense-chain-step.js';
import { meanLoss } from '../dist/train/losses.js';
import { TOKEN_CONV_BUFFER_FLOATS, tokenConvOf } from '../dist/train/replica-loop.js';
import { tokenConvLayout } from '../dist/train/token-conv-step.js';
import { requiredBlas } from './helpers/native-blas.js';
import { scaledError } from './helpers/scaled-error.js';

const MAX_LENGTH = 12;
const VOCAB = 30;
const CLASSES = 3;
const LOSS = { name: 'kd', temperature: 2, alpha: 0.5 } as const;
/** Values before the model's weights in the flat vectors, as a gradient slot or the shared weights may have. */
const PREFIX = 5;

const reloaded = async (model: tf.LayersModel) => modelFromData(await modelToData(model));
const cnn1d = (spec: string, seed = 4) => buildModel(spec, { inputShape: [MAX_LENGTH], numClasses: CLASSES, vocabSize: VOCAB, seed });

/** The JavaScript reference, and the addon's loops where it loads (TFJS_DISTILL_REQUIRE_OPENBLAS=1 requires it). */
function implementations(): [string, TokenConvStudentLoops][] {
  const load = requiredBlas();
  const javascript: [string, TokenConvStudentLoops] = ['javascript', javascriptTokenConvStudentLoops];
  return 'blas' in load ? [javascript, ['native', nativeTokenConvStudentLoops(load.blas)]] : [javascript];
}

/**
 * Rows of every kind: all padding, shorter than the kernel (1 and 2 tokens), padding inside a row, ids at
 * the vocabulary's end, random lengths; and rows whose windows repeat (one token over and over), so that a
 * filter's maximum lies at several positions (the stock max pooling's gradient reaches each).
 */
function tokenRows(rows: number, seed = 3): Float32Array {
  const random = mulberry32(seed);
  const ids = new Float32Array(rows * MAX_LENGTH);
  const row = (r: number, tokens: number[]) => ids.set(tokens, r * MAX_LENGTH);
  row(1, [VOCAB - 1]);
  row(2, [5, VOCAB - 1]);
  row(3, [7, 0, 0, 8, 9, 0, VOCAB - 1, VOCAB - 2]);
  for (let r = 4; r < rows - 2; r++) {
    const length = 1 + Math.floor(random() * MAX_LENGTH);
    for (let t = 0; t < length; t++) ids[r * MAX_LENGTH + t] = 1 + Math.floor(random() * (VOCAB - 1));
  }
  row(rows - 2, new Array(7).fill(4));
  ids.fill(9, (rows - 1) * MAX_LENGTH, rows * MAX_LENGTH);
  return ids;
}

type Symbolic = tf.SymbolicTensor;
/** cnn1d's own step from the convolution's output to the maximum: padding zeroed, then the global maximum. */
const maskedMaximum = (features: Symbolic, real: Symbolic) => tf.layers.globalMaxPooling1d().apply(zeroPadding(features, real)) as Symbolic;

/**
 * A cnn1d-shaped model of stock layers, its convolution with `conv`'s settings, `pool` from its output to
 * rows [n, filters], and `after` between those and the logits.
 */
function cnn1dLike(
  conv: Partial<tf.layers.ConvLayerArgs>,
  after: tf.layers.Layer[] = [],
  pool: (features: Symbolic, real: Symbolic) => Symbolic = maskedMaximum,
): tf.LayersModel {
  const ids = tf.input({ shape: [MAX_LENGTH] });
  const real = realTokens(ids, MAX_LENGTH);
  const embedded = zeroPadding(tf.layers.embedding({ inputDim: VOCAB, outputDim: 4 }).apply(ids) as tf.SymbolicTensor, real);
  const convolution = tf.layers.conv1d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', ...conv });
  let t = pool(convolution.apply(embedded) as Symbolic, real);
  for (const layer of after) t = layer.apply(t) as tf.SymbolicTensor;
  const model = tf.model({ inputs: ids, outputs: tf.layers.dense({ units: CLASSES }).apply(t) as tf.SymbolicTensor });
  // Seeded weights: the layers' initializers draw from tfjs's unseeded generator, which made each run another model.
  const random = mulberry32(11);
  model.setWeights(
    model.weights.map((w) =>
      tf.tensor(
        Float32Array.from({ length: w.shape.reduce((a, b) => a * b, 1) }, () => random() - 0.5),
        w.shape,
      ),
    ),
  );
  return model;
}

function targetsOf(rows: number) {
  const random = mulberry32(9);
  const teacher = Float32Array.from({ length: rows * CLASSES }, () => random() * 4 - 2);
  const labels = Int32Array.from({ length: rows }, (_, i) => (i % 4 === 3 ? -1 : i % CLASSES));
  return () => ({ labels: tf.tensor1d(labels, 'int32'), teacher: tf.tensor2d(teacher, [rows, CLASSES]) });
}

/** The stock graph's logits, and tfjs's autograd gradient of the loss, flat in variable order. */
function stockPass(model: tf.LayersModel, ids: Float32Array, rows: number) {
  const targets = targetsOf(rows);
  return tf.tidy(() => {
    const x = tf.tensor2d(ids, [rows, MAX_LENGTH]);
    const logits = (model.apply(x) as tf.Tensor).dataSync() as Float32Array;
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => meanLoss(LOSS, { ...targets(), student: model.apply(x, { training: true }) as tf.Tensor2D }),
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

/** The fused pass's logits, flat gradient (after PREFIX values) and loss, through `loops`, its buffers sized for `maxRows`. */
function fusedPass(model: tf.LayersModel, loops: TokenConvStudentLoops, ids: Float32Array, rows: number, maxRows = rows, limit = 2 ** 127) {
  const conv = tokenConv(model, tokenFront(model)!)!;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const weights = new Float32Array(PREFIX + variables.reduce((sum, v) => sum + v.size, 0));
  let offset = PREFIX;
  for (const v of variables) {
    weights.set(v.dataSync(), offset);
    offset += v.size;
  }
  // Offsets count from the variables' start; the PREFIX shifts every one of them.
  const layout = tokenConvLayout(conv, variables);
  const buffers = new TokenConvBuffers(
    {
      ...layout,
      tableOffset: layout.tableOffset + PREFIX,
      kernelOffset: layout.kernelOffset + PREFIX,
      biasOffset: layout.biasOffset + PREFIX,
    },
    maxRows,
  );
  const head = denseLayerViews(conv.head, variables).map((l) => ({
    ...l,
    kernelOffset: l.kernelOffset + PREFIX,
    biasOffset: l.biasOffset < 0 ? -1 : l.biasOffset + PREFIX, // -1: no bias
  }));
  const grad = new Float32Array(weights.length).fill(7); // every weight's gradient overwritten; the prefix left alone
  const dPooled = new Float32Array(maxRows * conv.filters);
  const targets = targetsOf(rows);
  let logits = new Float32Array(0);
  loops.conv.forward(weights, ids, rows, buffers);
  const { loss, bounded } = denseChainGradient(
    head,
    loops.dense,
    new DenseChainBuffers(head, maxRows),
    buffers.pooled,
    rows,
    weights,
    grad,
    (values, dLogits) => {
      logits = values.slice();
      return tf.tidy(() => logitsLoss(LOSS, values, CLASSES, dLogits, targets()));
    },
    dPooled,
  );
  const frontBounded = loops.conv.backward(weights, ids, rows, buffers, dPooled, grad, limit);
  expect(Array.from(grad.subarray(0, PREFIX))).toEqual(new Array(PREFIX).fill(7));
  return { logits, grad: grad.subarray(PREFIX), loss, bounded: bounded && frontBounded, weights, buffers };
}

/** Each variable's slice of a flat gradient. */
function perVariable(model: tf.LayersModel, flat: Float32Array): [string, Float32Array][] {
  let offset = 0;
  return model.trainableWeights.map((w) => {
    const size = w.shape.reduce((a, b) => a * (b as number), 1) as number;
    offset += size;
    return [w.name, flat.subarray(offset - size, offset)];
  });
}

/** A filter whose outputs are equal at every real position: its kernel zero, its bias positive. */
function withFlatFilter(model: tf.LayersModel): tf.LayersModel {
  const conv = model.layers.find((l) => l.getClassName() === 'Conv1D')!;
  const [kernel, bias] = conv.getWeights().map((w) => w.arraySync() as number[] | number[][][]);
  for (const tap of kernel as number[][][]) for (const channel of tap) channel[1] = 0;
  (bias as number[])[1] = 0.25;
  conv.setWeights([tf.tensor(kernel as number[][][]), tf.tensor(bias as number[])]);
  return model;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('token conv: recognising a cnn1d student', () => {
  it('finds the saved and reloaded cnn1d student, its sizes and its dense head', async () => {
    const model = await reloaded(cnn1d('cnn1d:5,4'));
    const conv = tokenConv(model, tokenFront(model)!)!;
    expect([conv.vocabSize, conv.width, conv.maxLength, conv.kernelSize, conv.filters]).toEqual([VOCAB, 5, MAX_LENGTH, 3, 4]);
    expect(conv.head.layers.map((l) => [l.inWidth, l.units, l.relu])).toEqual([[4, CLASSES, false]]);
    const hidden = cnn1dLike({ kernelSize: 2 }, [tf.layers.dense({ units: 6, activation: 'relu' })]);
    expect(tokenConv(hidden, tokenFront(hidden)!)?.head.layers.map((l) => l.units)).toEqual([6, CLASSES]);
  });

  it('leaves anything else to the token front and tfjs: other conv settings, regularisers, constraints, dropout, a capped ReLU, other pooling, more convs, a frozen conv, bag', async () => {
    const others: [string, tf.LayersModel][] = [
      ['linear', cnn1dLike({ activation: 'linear' })],
      ['no bias', cnn1dLike({ useBias: false })],
      ['dilation 2', cnn1dLike({ dilationRate: 2 })],
      // (strides above 1, 'valid' and tfjs's 'causal' padding change the length: the padding mask cannot follow)
      ['relu6', cnn1dLike({ activation: 'relu6' })],
      ['kernel regulariser', cnn1dLike({ kernelRegularizer: tf.regularizers.l2() })],
      ['kernel constraint', cnn1dLike({ kernelConstraint: tf.constraints.maxNorm({ maxValue: 1 }) })],
      ['dropout after the maximum', cnn1dLike({}, [tf.layers.dropout({ rate: 0.5 })])],
      ['a capped ReLU after the maximum', cnn1dLike({}, [tf.layers.reLU({ maxValue: 1 })])],
      ['no padding mask after the conv', cnn1dLike({}, [], (features) => tf.layers.globalMaxPooling1d().apply(features) as Symbolic)],
      [
        'the average, not the maximum',
        cnn1dLike({}, [], (features, real) => tf.layers.globalAveragePooling1d().apply(zeroPadding(features, real)) as Symbolic),
      ],
      [
        'a second conv after the first',
        cnn1dLike({}, [], (features, real) => {
          const second = tf.layers.conv1d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' });
          return maskedMaximum(second.apply(zeroPadding(features, real)) as Symbolic, real);
        }),
      ],
    ];
    const frozen = cnn1dLike({});
    frozen.layers.find((l) => l.getClassName() === 'Conv1D')!.trainable = false;
    others.push(['a frozen conv', frozen]);
    for (const [what, model] of others) {
      const front = tokenFront(model);
      expect(front && tokenConv(model, front), what).toBeFalsy();
    }
    const bag = await reloaded(buildModel('bag:5', { inputShape: [MAX_LENGTH], numClasses: CLASSES, vocabSize: VOCAB }));
    expect(tokenConv(bag, tokenFront(bag)!)).toBeUndefined();
    const plain = cnn1dLike({});
    expect(tokenConv(plain, tokenFront(plain)!)).toBeDefined(); // the same model otherwise is recognised
  });
});

describe('token conv: the fused pass', () => {
  const models: [string, () => Promise<tf.LayersModel>][] = [
    ['cnn1d:5,4', () => reloaded(cnn1d('cnn1d:5,4'))],
    ['cnn1d:6,16', () => reloaded(cnn1d('cnn1d:6,16', 7))],
    ['kernel 2 and a hidden ReLU layer', async () => cnn1dLike({ kernelSize: 2 }, [tf.layers.dense({ units: 6, activation: 'relu' })])],
    [
      'kernel 4, a ReLU layer and a dense layer without bias',
      async () =>
        cnn1dLike({ kernelSize: 4 }, [tf.layers.dense({ units: 6 }), tf.layers.reLU(), tf.layers.dense({ units: 5, useBias: false })]),
    ],
    ['kernel 15, wider than the rows', async () => cnn1dLike({ kernelSize: 15 })],
    ['a filter equal at every real position (ties)', async () => withFlatFilter(await reloaded(cnn1d('cnn1d:5,4')))],
  ];
  for (const [name, loops] of implementations())
    for (const [what, make] of models) {
      it(`${name}, ${what}: logits equal the stock graph's, every gradient tfjs's autograd`, async () => {
        const rows = 13;
        const model = await make();
        const ids = tokenRows(rows);
        const stock = stockPass(model, ids, rows);
        const fused = fusedPass(model, loops, ids, rows);
        expect(scaledError(fused.logits, stock.logits)).toBeLessThanOrEqual(1e-6);
        expect(Math.abs(fused.loss - stock.loss)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(stock.loss)));
        expect(fused.bounded).toBe(true);
        const want = perVariable(model, stock.grad);
        perVariable(model, fused.grad).forEach(([variable, mine], i) => {
          expect(scaledError(want[i][1], new Float32Array(want[i][1].length)), variable).toBeGreaterThan(0); // real gradients compared
          // 1e-5: float32 sums in another order (these loops, OpenBLAS) and tfjs's own rounding differ by tens of
          // ulps of a layer's largest gradient where its terms cancel; a wrong index or scale is off by far more.
          expect(scaledError(mine, want[i][1]), variable).toBeLessThanOrEqual(1e-5);
        });
      });
    }

  it('the tie case holds real ties: the flat filter reaches every real position with the full gradient', async () => {
    const model = withFlatFilter(await reloaded(cnn1d('cnn1d:5,4')));
    const rows = 13;
    const ids = tokenRows(rows);
    const { grad, buffers } = fusedPass(model, javascriptTokenConvStudentLoops, ids, rows);
    // The flat filter's bias gradient is each row's maximum's gradient times the row's real tokens.
    const [, , , bias] = perVariable(model, grad).map(([, g]) => g);
    const stockBias = perVariable(model, stockPass(model, ids, rows).grad)[3][1];
    expect(Math.abs(bias[1] - stockBias[1])).toBeLessThanOrEqual(1e-6 * Math.abs(stockBias[1]));
    const filters = 4;
    const tied = buffers.index.subarray(rows + 1 + rows * filters, rows + 1 + 2 * rows * filters);
    expect(tied[5 * filters + 1]).toBe(1); // a row of several tokens: every one of them holds the maximum
  });

  for (const [name, loops] of implementations())
    it(`${name}: the same rows give the same bits in buffers sized for more rows (as a rank's last, shorter slice)`, async () => {
      const model = await reloaded(cnn1d('cnn1d:5,4'));
      const ids = tokenRows(9);
      const [exact, roomy] = [fusedPass(model, loops, ids, 9), fusedPass(model, loops, ids, 9, 16)];
      expect(Buffer.from(roomy.grad.slice().buffer).equals(Buffer.from(exact.grad.slice().buffer))).toBe(true);
      expect(Array.from(roomy.logits)).toEqual(Array.from(exact.logits));
    });

  for (const [name, loops] of implementations()) {
    it(`${name}: refuses an id outside the table (the vocabulary's end, negative, fractional), naming it`, async () => {
      const model = await reloaded(cnn1d('cnn1d:5,4'));
      for (const bad of [VOCAB, -1, 2.5]) {
        const ids = tokenRows(6);
        ids[2 * MAX_LENGTH + 1] = bad;
        expect(() => fusedPass(model, loops, ids, 6), String(bad)).toThrow(`token id ${bad} in row 2 is not in [0, ${VOCAB})`);
      }
    });

    it(`${name}: backward reports whether the gradient it wrote is within the bound, and a NaN weight makes the step non-finite`, async () => {
      const model = await reloaded(cnn1d('cnn1d:5,4'));
      const ids = tokenRows(8);
      expect(fusedPass(model, loops, ids, 8, 8, 1e-12).bounded).toBe(false);
      const conv = model.layers.find((l) => l.getClassName() === 'Conv1D')!;
      const [kernel, bias] = conv.getWeights();
      conv.setWeights([kernel, tf.fill(bias.shape, Number.NaN)]);
      const { bounded, loss } = fusedPass(model, loops, ids, 8);
      expect(bounded).toBe(false);
      expect(Number.isNaN(loss)).toBe(true);
    });

    it(`${name}: refuses buffers that overlap, naming them`, async () => {
      const model = await reloaded(cnn1d('cnn1d:5,4'));
      const conv = tokenConv(model, tokenFront(model)!)!;
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const buffers = new TokenConvBuffers(tokenConvLayout(conv, variables), 4);
      const weights = new Float32Array(variables.reduce((sum, v) => sum + v.size, 0));
      const ids = tokenRows(4);
      expect(() => loops.conv.forward(weights, buffers.col, 4, buffers)).toThrow(/ids and col overlap/);
      loops.conv.forward(weights, ids, 4, buffers);
      expect(() => loops.conv.backward(weights, ids, 4, buffers, new Float32Array(16), weights, 1)).toThrow(
        /table and grad's table overlap/,
      );
    });
  }
});

describe('token conv: which threads train cnn1d students with it', () => {
  it('a thread running the openblas kernels does, unless TFJS_DISTILL_TOKEN_CONV is off; after the JavaScript loops none does', async () => {
    if (!('blas' in requiredBlas())) return; // no addon here: nothing to select
    const init = await initBackend(['wasm'], 'auto');
    expect(init.kernels).toBe('openblas');
    expect(tokenConvLoops()).toBeDefined();
    // ...and only while the pass's buffers for a rank's rows fit their budget: above it, the rank trains through tfjs.
    const model = cnn1d('cnn1d:5,4');
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const perRow = MAX_LENGTH * (3 * 5 + 4);
    const fitting = Math.floor(TOKEN_CONV_BUFFER_FLOATS / perRow);
    expect(tokenConvOf(model, tokenFront(model)!, variables, fitting, MAX_LENGTH)).toBeDefined();
    expect(tokenConvOf(model, tokenFront(model)!, variables, fitting + 1, MAX_LENGTH)).toBeUndefined();
    expect(tokenConvOf(model, tokenFront(model)!, variables, 1, MAX_LENGTH + 1)).toBeUndefined(); // rows of another length
    process.env[TOKEN_CONV_ENV] = 'off';
    try {
      expect(tokenConvLoops()).toBeUndefined();
    } finally {
      delete process.env[TOKEN_CONV_ENV];
    }
    useJavascriptLoops();
    expect(tokenConvLoops()).toBeUndefined();
    await tf.setBackend('cpu');
  });
});
