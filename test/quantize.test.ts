import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DistillError,
  buildModel,
  loadModel,
  measureVariant,
  quantizeModelData,
  quantizeTensor,
  saveModel,
  saveQuantizedModel,
} from '../dist/index.js';
import type { ModelData } from '../dist/index.js';
import { modelToData } from '../dist/models/model-data.js';
import { digitRows } from './helpers/digits.js';

const DTYPES = ['uint8', 'uint16', 'float16'] as const;

/** A model with every kind of weight a student holds: an embedding table, conv kernels, dense kernels, biases. */
async function mixedModelData(): Promise<ModelData> {
  const model = tf.sequential();
  model.add(tf.layers.embedding({ inputDim: 300, outputDim: 16, inputLength: 12, embeddingsInitializer: 'randomNormal' }));
  model.add(tf.layers.conv1d({ filters: 8, kernelSize: 3, activation: 'relu', biasInitializer: 'randomUniform' }));
  model.add(tf.layers.globalAveragePooling1d());
  model.add(tf.layers.dense({ units: 5 }));
  const data = await modelToData(model);
  model.dispose();
  return data;
}

/** `data` with extra weights appended: a float32 tensor holding exact zeros, and an int32 one. */
function withExtraWeights(data: ModelData): ModelData {
  const mixed = new Float32Array([-0.7, 0, 0.31, 0, 1.13, -0.02, 0, 0.5]);
  const counts = new Int32Array([0, 7, -3, 123456789, -2147483648, 2147483647]);
  const weights = new Uint8Array(data.weights.byteLength + mixed.byteLength + counts.byteLength);
  weights.set(new Uint8Array(data.weights));
  weights.set(new Uint8Array(mixed.buffer), data.weights.byteLength);
  weights.set(new Uint8Array(counts.buffer), data.weights.byteLength + mixed.byteLength);
  return {
    ...data,
    weightSpecs: [
      ...data.weightSpecs,
      { name: 'extra/mixed', shape: [8], dtype: 'float32' },
      { name: 'extra/counts', shape: [2, 3], dtype: 'int32' },
    ],
    weights: weights.buffer,
  };
}

describe('quantised variants', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const dtype of DTYPES) {
    it(`${dtype}: stock tfjs decodes every weight within the scheme's error bound, int weights exactly`, async () => {
      const original = withExtraWeights(await mixedModelData());
      const quantized = quantizeModelData(original, dtype);
      const before = tf.io.decodeWeights(original.weights, original.weightSpecs);
      // The stock decoder, the one tf.loadLayersModel runs, dequantises.
      const after = tf.io.decodeWeights(quantized.weights, quantized.weightSpecs);
      let floatElements = 0;
      for (const spec of quantized.weightSpecs) {
        const x = before[spec.name].dataSync();
        const decoded = after[spec.name].dataSync();
        expect(after[spec.name].dtype).toBe(spec.dtype);
        if (spec.dtype !== 'float32') {
          expect(spec.quantization).toBeUndefined();
          expect(Array.from(decoded)).toEqual(Array.from(x));
          continue;
        }
        floatElements += x.length;
        const q = spec.quantization!;
        if (dtype === 'float16') {
          expect(q).toEqual({ dtype: 'float16', original_dtype: 'float32' });
          // Half precision keeps 11 significant bits: relative error 2^-11, or 2^-25 among the subnormals.
          for (let i = 0; i < x.length; i++)
            expect(Math.abs(decoded[i] - x[i])).toBeLessThanOrEqual(Math.max(Math.abs(x[i]) * 2 ** -11, 2 ** -25));
        } else {
          expect(Object.keys(q)).toEqual(['dtype', 'min', 'scale', 'original_dtype']);
          expect(q.dtype).toBe(dtype);
          // Half a step, plus the float32 rounding of the decoded value (half its ulp).
          const bound = (i: number) => q.scale! / 2 + Math.abs(decoded[i]) * 2 ** -24;
          for (let i = 0; i < x.length; i++) expect(Math.abs(decoded[i] - x[i])).toBeLessThanOrEqual(bound(i));
        }
        // Zero stays exactly zero: the zero-initialised biases and the exact zeros among other values.
        for (let i = 0; i < x.length; i++) if (x[i] === 0) expect(decoded[i]).toBe(0);
      }
      const intBytes = 6 * 4;
      expect(quantized.weights.byteLength).toBe(floatElements * (dtype === 'uint8' ? 1 : 2) + intBytes);
      expect(original.weights.byteLength).toBe(floatElements * 4 + intBytes);
    });
  }

  it('matches the converter maths as numpy computes it, ties and nudged zero included', () => {
    // Expected values from numpy 2 applying tfjs-converter's per-tensor quantisation to the same float32 values.
    const values = new Float32Array([-1, 0, 1, 0.5, -0.25]);
    const uint8 = quantizeTensor(values, 'uint8');
    expect(Array.from(uint8.bytes)).toEqual([0, 128, 255, 192, 96]);
    expect(uint8.quantization).toEqual({ dtype: 'uint8', min: -1.003921568627451, scale: 0.00784313725490196, original_dtype: 'float32' });
    const uint16 = quantizeTensor(values, 'uint16');
    expect(Array.from(new Uint16Array(uint16.bytes.buffer))).toEqual([0, 32768, 65535, 49152, 24576]);
    expect(uint16.quantization).toMatchObject({ min: -1.0000152590218967, scale: 3.0518043793392844e-5 });
    const edges = new Float32Array([
      65504,
      65519.98828125,
      -65504,
      2 ** -24,
      2 ** -25,
      3 * 2 ** -26,
      2 ** -14,
      2 ** -14 - 2 ** -25,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
    ]);
    const halves = Array.from(new Uint16Array(quantizeTensor(edges, 'float16').bytes.buffer));
    expect(halves).toEqual([0x7bff, 0x7bff, 0xfbff, 0x1, 0x0, 0x1, 0x400, 0x400, 0x3c00, 0x3c02]);
    // Every value above zero: no nudge, the range is the data's own.
    const positive = quantizeTensor(new Float32Array([0.25, 0.5, 0.75]), 'uint8');
    expect(Array.from(positive.bytes)).toEqual([0, 128, 255]);
    expect(positive.quantization).toMatchObject({ min: 0.25, scale: 0.5 / 255 });
    // A single-valued tensor stores level 0 and restores its value from min alone.
    const constant = quantizeTensor(new Float32Array([0.3, 0.3]), 'uint8');
    expect(Array.from(constant.bytes)).toEqual([0, 0]);
    expect(constant.quantization).toMatchObject({ min: Math.fround(0.3), scale: 1 });
  });

  it('refuses weights no variant can hold, a quantised source and an unknown format, naming the weight and the fix', async () => {
    const broken = new Float32Array([0.1, Number.NaN]);
    expect(() => quantizeTensor(broken, 'uint8', 'dense/kernel')).toThrow(/^weight dense\/kernel holds NaN.*retrain/);
    expect(() => quantizeTensor(new Float32Array([1e6]), 'float16', 'dense/bias')).toThrow(
      /^weight dense\/bias holds 1000000, beyond float16's range.*uint8 or uint16 variant instead/,
    );
    const data = await mixedModelData();
    const once = quantizeModelData(data, 'uint8');
    expect(() => quantizeModelData(once, 'float16')).toThrow(/already stored as uint8; quantise the float32 model instead/);
    expect(() => quantizeModelData(data, 'int4' as never)).toThrow(DistillError);
    expect(() => quantizeModelData(data, 'int4' as never)).toThrow(/unknown quantisation 'int4'; quantize takes uint8, uint16, float16/);
  });
});

describe('a digits student quantised for shipping', () => {
  let dir: string;
  let test: Awaited<ReturnType<typeof digitRows>>['test'];

  beforeAll(async () => {
    const rows = await digitRows(2000, 2004);
    test = rows.test;
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-quantize-'));
    const student = buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 5 });
    student.compile({
      optimizer: tf.train.adam(0.002),
      loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
    });
    const xs = tf.tensor(rows.train.x, rows.train.shape);
    const ys = tf.oneHot(tf.tensor1d(rows.train.y, 'int32'), 10);
    await student.fit(xs, ys, { epochs: 3, batchSize: 64, shuffle: false, verbose: 0 });
    tf.dispose([xs, ys]);
    const data = await modelToData(student);
    await saveModel(data, join(dir, 'float32'));
    for (const dtype of DTYPES) await saveQuantizedModel(data, join(dir, dtype), dtype);
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('uint8 loads in stock tfjs from its files, at most 30% of the float32 weight bytes, within 1 point of its accuracy', async () => {
    const variant = join(dir, 'uint8');
    expect((await readdir(variant)).sort()).toEqual(['model.json', 'weights.bin']);
    // Stock tfjs alone, from the files as a web app receives them.
    const json = JSON.parse(await readFile(join(variant, 'model.json'), 'utf8'));
    const bin = await readFile(join(variant, 'weights.bin'));
    const stock = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: new Uint8Array(bin).buffer,
      }),
    );
    const predicted = tf.tidy(() => (stock.predict(tf.tensor(test.x, test.shape)) as tf.Tensor).argMax(-1).dataSync());
    const stockAccuracy = predicted.reduce((hits, label, row) => hits + (label === test.y[row] ? 1 : 0), 0) / test.y.length;

    const measured = await measureVariant(join(dir, 'float32'), variant, test);
    console.log(`digits mlp:32, ${test.y.length} test rows:`, JSON.stringify(measured));
    expect(measured.format).toBe('uint8');
    expect(measured.accuracy).toBe(stockAccuracy);
    expect(measured.float32Accuracy).toBeGreaterThan(0.85); // a trained student, or the comparison means nothing
    expect(measured.weightFraction).toBeLessThanOrEqual(0.3);
    expect(measured.weightBytes).toBe(bin.byteLength);
    expect(Math.abs(measured.accuracyDrop)).toBeLessThanOrEqual(1);
    // tfjs-distill's own reader takes the variant too (its manifest's byte count is checked on the way in).
    expect((await loadModel(variant)).countParams()).toBe(stock.countParams());
  });

  for (const dtype of ['uint16', 'float16'] as const) {
    it(`${dtype} loads in stock tfjs at half the float32 weight bytes, within 1 point of its accuracy`, async () => {
      const measured = await measureVariant(join(dir, 'float32'), join(dir, dtype), test);
      console.log(`digits mlp:32, ${test.y.length} test rows:`, JSON.stringify(measured));
      expect(measured.format).toBe(dtype);
      // Every weight of this student is float32, so two bytes per weight is exactly half.
      expect(measured.weightFraction).toBe(0.5);
      expect(Math.abs(measured.accuracyDrop)).toBeLessThanOrEqual(1);
    });
  }

  it('refuses a quantised reference, unlabelled rows and rows of another shape', async () => {
    await expect(measureVariant(join(dir, 'uint8'), join(dir, 'float16'), test)).rejects.toThrow(
      /reference model is itself quantised; compare against the float32 model/,
    );
    const unlabelled = { ...test, y: test.y.map((label, row) => (row === 3 ? -1 : label)) };
    await expect(measureVariant(join(dir, 'float32'), join(dir, 'uint8'), unlabelled)).rejects.toThrow(/no label \(-1\)/);
    const wide = { x: new Float32Array(4 * 30 * 30), y: new Int32Array(4), shape: [4, 30, 30], numClasses: 10 };
    await expect(measureVariant(join(dir, 'float32'), join(dir, 'uint8'), wide)).rejects.toThrow(
      /^the test rows \(shape \[30,30\]\) do not fit the model: .*rows of its input shape$/,
    );
  });

  it('measures the float32 model against itself as a full match', async () => {
    const measured = await measureVariant(join(dir, 'float32'), join(dir, 'float32'), test);
    expect(measured).toMatchObject({ format: 'float32', accuracyDrop: 0, agreement: 1, weightFraction: 1 });
  });
});
