import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../dist/data/dataset.js';
import { buildModel, loadMnist } from '../dist/index.js';
import { UnsupportedLayerError, exportLayersToOnnx } from '../dist/models/layers-to-onnx.js';
import { checkOnnxAgainstTfjs } from '../dist/models/onnx-check.js';
import { mulberry32 } from '../dist/random.js';

// Every student family exported and run by real onnxruntime-node, next to tfjs on the same rows.
const ort = createRequire(import.meta.url)('onnxruntime-node');

const VOCAB = 40;
const CLASSES = 3;
const LENGTH = 24;

/**
 * Token-id rows as a tokenizer gives them and worse: mostly right-padded texts of every length, some
 * left-padded, some with padding inside, an empty one and a full one. tfjs masks padding wherever it lies.
 */
function tokenRows(count: number, seed = 3): Dataset {
  const random = mulberry32(seed);
  const x = new Float32Array(count * LENGTH);
  for (let r = 0; r < count; r++) {
    const length = r === 0 ? 0 : r === 1 ? LENGTH : 1 + Math.floor(random() * LENGTH);
    const start = r % 6 === 5 ? LENGTH - length : 0;
    for (let t = 0; t < length; t++) x[r * LENGTH + start + t] = 1 + Math.floor(random() * (VOCAB - 1));
    if (r % 7 === 3 && length > 3) x[r * LENGTH + start + 1] = 0;
  }
  return { x, y: Int32Array.from({ length: count }, (_, i) => i % CLASSES), shape: [count, LENGTH], numClasses: CLASSES };
}

/**
 * Every weight drawn anew (biases, forget gates and the padding embedding included), so no part is trivially
 * 0 or 1; bag's fixed padding scores, which make its mean leave padding out, stay as built.
 */
function scramble(model: tf.LayersModel, seed: number, scale: number): void {
  const random = mulberry32(seed);
  const weights = model.getWeights();
  model.setWeights(
    weights.map((w, i) =>
      model.weights[i].name.includes('padding_scores')
        ? w
        : tf.tensor(
            Float32Array.from({ length: w.size }, () => (random() * 2 - 1) * scale),
            w.shape,
          ),
    ),
  );
}

/** The logits of the model's ONNX export on `x` ([rows, ...inputShape], float32), as onnxruntime-node computes them. */
async function onnxLogits(model: tf.LayersModel, x: Float32Array, rows: number): Promise<Float32Array> {
  const exported = exportLayersToOnnx(model);
  const session = await ort.InferenceSession.create(exported.bytes, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', x, [rows, ...exported.inputShape]) });
    return out.output.data as Float32Array;
  } finally {
    await session.release();
  }
}

const textModel = (spec: string, length: number, vocabSize = VOCAB) =>
  buildModel(spec, { inputShape: [length], numClasses: CLASSES, vocabSize, seed: 5 });

describe('ONNX export of every student family', () => {
  let digits: Dataset;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const { test } = await loadMnist();
    const rows = 1000;
    const size = 28 * 28;
    digits = { x: test.x.subarray(0, rows * size), y: test.y.subarray(0, rows), shape: [rows, 28, 28], numClasses: 10 } as Dataset;
  });

  it('mlp and cnn on 1,000 real digits: top-1 agreement >= 99.9% and logits within 1e-4', async () => {
    for (const [spec, scale] of [
      ['mlp:64,32', 0.3],
      ['cnn:8,16', 0.3],
    ] as const) {
      const model = buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed: 3 });
      scramble(model, 9, scale);
      const exported = exportLayersToOnnx(model);
      const check = await checkOnnxAgainstTfjs(model, exported, digits);
      const pixels = digits.x instanceof Uint8Array ? Float32Array.from(digits.x, (v) => v / 255) : Float32Array.from(digits.x);
      const expected = tf.tidy(() => (model.predict(tf.tensor(pixels, [1000, 28, 28])) as tf.Tensor).dataSync());
      const logits = Math.max(...expected) - Math.min(...expected);
      expect(logits, `${spec}: the logits vary`).toBeGreaterThan(1);
      expect(check.rows).toBe(1000);
      expect(check.agreement, spec).toBeGreaterThanOrEqual(0.999);
      expect(check.maxAbsLogitDiff, spec).toBeLessThan(1e-4);
      expect(check.accuracy, spec).toBeCloseTo(check.tfjsAccuracy, 2);
      console.log(
        `${spec}: agreement ${check.agreement}, largest logit difference ${check.maxAbsLogitDiff.toExponential(2)}, logit spread ${logits.toFixed(2)}`,
      );
      model.dispose();
    }
  });

  it('bag, cnn1d and bilstm on 1,000 token rows (padding right, left and inside, empty and full): agreement >= 99.9%, logits within 1e-4', async () => {
    const rows = tokenRows(1000);
    for (const spec of ['bag:16', 'cnn1d:16,12', 'bilstm:16,8']) {
      const model = textModel(spec, LENGTH);
      scramble(model, 11, 0.6);
      const exported = exportLayersToOnnx(model);
      const check = await checkOnnxAgainstTfjs(model, exported, rows);
      const expected = tf.tidy(() => (model.predict(tf.tensor(rows.x as Float32Array, [1000, LENGTH])) as tf.Tensor).dataSync());
      const spread = Math.max(...expected) - Math.min(...expected);
      expect(spread, `${spec}: the logits vary`).toBeGreaterThan(0.5);
      expect(check.agreement, spec).toBeGreaterThanOrEqual(0.999);
      expect(check.maxAbsLogitDiff, spec).toBeLessThan(1e-4);
      console.log(
        `${spec}: agreement ${check.agreement}, largest logit difference ${check.maxAbsLogitDiff.toExponential(2)}, logit spread ${spread.toFixed(2)}`,
      );
      model.dispose();
    }
  });

  it('text families stay padding-invariant in ONNX: a text gets the same logits padded to 24, to 9 and unpadded, and an empty text alike', async () => {
    const texts = [[5, 9, 3, 7], [12], [4, 4, 8, 2, 6, 11, 3, 29, 1], [17, 2]];
    const pad = (list: number[][], length: number) =>
      Float32Array.from(list.flatMap((ids) => [...ids, ...new Array(length - ids.length).fill(0)]));
    for (const spec of ['bag:8', 'cnn1d:8,6', 'bilstm:8,5']) {
      const long = textModel(spec, LENGTH);
      scramble(long, 13, 0.6);
      const at = (length: number) => {
        const model = textModel(spec, length);
        model.setWeights(long.getWeights());
        return model;
      };
      const reference = await onnxLogits(long, pad(texts, LENGTH), texts.length);
      const short = await onnxLogits(at(9), pad(texts, 9), texts.length);
      for (let i = 0; i < reference.length; i++) expect(Math.abs(short[i] - reference[i]), `${spec}: padded to 9`).toBeLessThan(1e-5);
      for (const [i, ids] of texts.entries()) {
        const alone = await onnxLogits(at(ids.length), Float32Array.from(ids), 1);
        for (let c = 0; c < CLASSES; c++)
          expect(Math.abs(alone[c] - reference[i * CLASSES + c]), `${spec}: text ${i} unpadded`).toBeLessThan(1e-5);
      }
      expect(new Set(Array.from({ length: texts.length }, (_, i) => reference[i * CLASSES].toFixed(5))).size, spec).toBe(texts.length);
      const empty24 = await onnxLogits(long, new Float32Array(LENGTH), 1);
      const empty3 = await onnxLogits(at(3), new Float32Array(3), 1);
      for (let c = 0; c < CLASSES; c++) {
        expect(Number.isFinite(empty24[c]), spec).toBe(true);
        expect(Math.abs(empty24[c] - empty3[c]), `${spec}: an empty text`).toBeLessThan(1e-5);
      }
    }
  });

  it('uint8 kernels: about a quarter of the bytes, and every family still agrees with tfjs on >= 99% of 500 rows', async () => {
    const tokens = tokenRows(500);
    const someDigits = { ...digits, x: digits.x.subarray(0, 500 * 784), y: digits.y.subarray(0, 500), shape: [500, 28, 28] } as Dataset;
    for (const [spec, rows, scale] of [
      ['mlp:64,32', someDigits, 0.3],
      ['cnn:8,16', someDigits, 0.3],
      ['bag:64', tokens, 0.6],
      ['cnn1d:64,32', tokens, 0.6],
      ['bilstm:32,16', tokens, 0.6],
    ] as const) {
      const model =
        spec.startsWith('mlp') || spec.startsWith('cnn:')
          ? buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed: 3 })
          : textModel(spec, LENGTH, 2000); // a vocabulary of a real tokenizer's order: the table dominates
      scramble(model, 19, scale);
      const float32 = exportLayersToOnnx(model);
      const uint8 = exportLayersToOnnx(model, { weights: 'uint8' });
      const check = await checkOnnxAgainstTfjs(model, uint8, rows);
      const fraction = uint8.bytes.length / float32.bytes.length;
      console.log(
        `${spec} uint8: ${(100 * fraction).toFixed(1)}% of the bytes, agreement ${check.agreement}, largest logit difference ${check.maxAbsLogitDiff.toExponential(2)}`,
      );
      expect(fraction, spec).toBeLessThan(0.3);
      expect(check.agreement, spec).toBeGreaterThanOrEqual(0.99);
      // Quantised, so not exact: a model whose logits came out equal would be running float32 weights.
      expect(check.maxAbsLogitDiff, spec).toBeGreaterThan(1e-4);
      model.dispose();
    }
  });

  it('exports a one-way LSTM read backwards and a functional model whose branches merge', async () => {
    const input = tf.input({ shape: [7, 4] });
    const backwards = tf.layers.lstm({ units: 5, goBackwards: true, recurrentActivation: 'sigmoid' }).apply(input) as tf.SymbolicTensor;
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const a = tf.layers.dense({ units: 5, activation: 'tanh' }).apply(flat) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([a, backwards]) as tf.SymbolicTensor;
    const joined = tf.layers.concatenate().apply([sum, a, backwards]) as tf.SymbolicTensor;
    const most = tf.layers.maximum().apply([a, backwards]) as tf.SymbolicTensor;
    const both = tf.layers
      .concatenate()
      .apply([joined, most, tf.layers.average().apply([a, sum]) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(both) as tf.SymbolicTensor });
    scramble(model, 17, 0.8);
    const random = mulberry32(2);
    const x = Float32Array.from({ length: 50 * 28 }, () => random() * 2 - 1);
    const expected = tf.tidy(() => (model.predict(tf.tensor(x, [50, 7, 4])) as tf.Tensor).dataSync());
    const got = await onnxLogits(model, x, 50);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(0.5);
    expect(worst).toBeLessThan(1e-4);
  });

  it('names the layer it cannot export: a GRU, a bidirectional LSTM merged by sum, an LSTM returning sequences', () => {
    const gru = tf.sequential({
      layers: [tf.layers.gru({ inputShape: [5, 3], units: 4, name: 'the_gru' }), tf.layers.dense({ units: 2 })],
    });
    expect(() => exportLayersToOnnx(gru)).toThrow(UnsupportedLayerError);
    expect(() => exportLayersToOnnx(gru)).toThrow(/^layer 'the_gru' \(GRU\) has no ONNX export here$/);
    const summed = tf.sequential({
      layers: [
        tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 3 }) as tf.RNN, mergeMode: 'sum', inputShape: [5, 3] }),
        tf.layers.dense({ units: 2 }),
      ],
    });
    expect(() => exportLayersToOnnx(summed)).toThrow(/\(Bidirectional\) merges its directions by 'sum'; only concat is exported/);
    const sequences = tf.sequential({
      layers: [tf.layers.lstm({ units: 3, returnSequences: true, inputShape: [5, 3] }), tf.layers.flatten(), tf.layers.dense({ units: 2 })],
    });
    expect(() => exportLayersToOnnx(sequences)).toThrow(/\(LSTM\) returns sequences/);
  });
});
