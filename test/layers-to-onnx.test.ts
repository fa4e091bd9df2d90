import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../dist/data/dataset.js';
import { LogitTable } from '../dist/data/logit-table.js';
import { readSoftLabels } from '../dist/data/soft-label-store.js';
import { distill } from '../dist/distill/distill.js';
import { label } from '../dist/labelling/label.js';
import { buildModel } from '../dist/models/architectures.js';
import { UnsupportedLayerError, exportLayersToOnnx } from '../dist/models/layers-to-onnx.js';
import { mulberry32 } from '../dist/random.js';

// Real onnxruntime-node on graphs exported from real tfjs models, compared with tfjs's own predict.
const ort = createRequire(import.meta.url)('onnxruntime-node');

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
};

/** `rows` rows of the given shape in [0, 1) (multiples of 1/256), labels 0..classes-1. */
function dataset(rows: number, featureShape: number[], classes: number, seed = 1): Dataset {
  const random = mulberry32(seed);
  const size = featureShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: rows * size }, () => Math.floor(random() * 256) / 256);
  return { x, y: Int32Array.from({ length: rows }, (_, i) => i % classes), shape: [rows, ...featureShape], numClasses: classes };
}

/** The exported graph run by onnxruntime next to model.predict, on the same rows. */
async function compare(model: tf.LayersModel, rows = 9): Promise<{ diff: number; scale: number }> {
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const x = dataset(rows, inputShape, 2, 7).x as Float32Array;
  const expected = tf.tidy(() => (model.predict(tf.tensor(x, [rows, ...inputShape])) as tf.Tensor).dataSync());
  const exported = exportLayersToOnnx(model);
  const session = await ort.InferenceSession.create(exported.bytes, { intraOpNumThreads: 1 });
  const out = await session.run({ [exported.inputName]: new ort.Tensor('float32', x, [rows, ...inputShape]) });
  await session.release();
  const got = out[exported.outputName].data as Float32Array;
  return { diff: maxAbsDiff(got, expected), scale: Math.max(...Array.from(expected, Math.abs)) };
}

const uniform = (minval: number, maxval: number, seed: number) => tf.initializers.randomUniform({ minval, maxval, seed });

/** Batch normalisation with non-trivial statistics, as a trained model has. */
const batchNorm = (seed: number) =>
  tf.layers.batchNormalization({
    movingMeanInitializer: uniform(-1, 1, seed),
    movingVarianceInitializer: uniform(0.5, 2, seed + 1),
    gammaInitializer: uniform(0.5, 2, seed + 2),
    betaInitializer: uniform(-1, 1, seed + 3),
    epsilon: 1e-3,
  });

/** A GRU teacher: a layer class the export does not handle. */
function gruTeacher(): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.gru({ inputShape: [8, 8], units: 6 }));
  model.add(tf.layers.dense({ units: 3 }));
  return model;
}

describe('exporting a tfjs LayersModel to ONNX', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches model.predict to 1e-4 for the built-in mlp and cnn', async () => {
    for (const spec of ['mlp:64,32', 'cnn:16,32', 'cnn:4']) {
      const model = buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed: 3 });
      const { diff, scale } = await compare(model);
      expect(scale, spec).toBeGreaterThan(0.01);
      expect(diff, spec).toBeLessThan(1e-4);
      model.dispose();
    }
    const rgb = buildModel('cnn:8,8', { inputShape: [12, 10, 3], numClasses: 4, seed: 5 });
    expect((await compare(rgb)).diff).toBeLessThan(1e-4);
  });

  it('matches model.predict to 1e-4 for every supported layer kind', async () => {
    const model = tf.sequential();
    model.add(tf.layers.inputLayer({ inputShape: [13, 11, 3] }));
    model.add(
      tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', biasInitializer: uniform(-1, 1, 1) }),
    );
    model.add(batchNorm(10));
    model.add(tf.layers.conv2d({ filters: 4, kernelSize: [2, 3], padding: 'valid', activation: 'elu' }));
    model.add(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'selu' }));
    model.add(tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'valid' }));
    model.add(tf.layers.dropout({ rate: 0.5 }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 8, activation: 'sigmoid' }));
    model.add(batchNorm(20));
    model.add(tf.layers.activation({ activation: 'softplus' }));
    model.add(tf.layers.dense({ units: 6, activation: 'selu' }));
    model.add(tf.layers.reshape({ targetShape: [2, 3] }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 3 }));
    expect((await compare(model)).diff).toBeLessThan(1e-4);

    // Dilation with same padding, relu6, a global pool, LeakyReLU, a dense layer on a rank-4 value.
    const more = tf.sequential();
    more.add(tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'relu6' }));
    more.add(tf.layers.dense({ units: 3, activation: 'relu' }));
    more.add(batchNorm(30));
    more.add(tf.layers.globalAveragePooling2d({}));
    more.add(tf.layers.leakyReLU({ alpha: 0.1 }));
    more.add(tf.layers.dense({ units: 3, activation: 'hardSigmoid' }));
    expect((await compare(more)).diff).toBeLessThan(1e-4);
  });

  it('exports a functional model, of one path or with branches that merge, and names the layer it cannot export', async () => {
    const input = tf.input({ shape: [6] });
    const hidden = tf.layers.dense({ units: 5, activation: 'tanh' }).apply(input) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 2 }).apply(hidden) as tf.SymbolicTensor;
    expect((await compare(tf.model({ inputs: input, outputs: output }))).diff).toBeLessThan(1e-4);

    expect(() => exportLayersToOnnx(gruTeacher())).toThrow(UnsupportedLayerError);
    expect(() => exportLayersToOnnx(gruTeacher())).toThrow(/\(GRU\) has no ONNX export/);
    // Branches that merge export too (onnx-export.test.ts tests more of them).
    const a = tf.layers.dense({ units: 4 }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 4, biasInitializer: uniform(-1, 1, 3) }).apply(input) as tf.SymbolicTensor;
    const merged = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
    expect((await compare(tf.model({ inputs: input, outputs: merged }))).diff).toBeLessThan(1e-4);
    // A model of two outputs has no single output to export.
    const twoOutputs = tf.model({ inputs: input, outputs: [a, b] });
    expect(() => exportLayersToOnnx(twoOutputs)).toThrow(/has 1 inputs and 2 outputs; export a model of one each/);
    const gelu = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'gelu' as 'relu' })] });
    expect(() => exportLayersToOnnx(gelu)).toThrow(/activation 'gelu'/);
  });
});

describe('teacherRuntime', () => {
  let dir: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'teacher-runtime-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function storeValues(file: string, train: Dataset, key: string): Promise<Float32Array> {
    const table = LogitTable.create(train.shape[0], train.numClasses);
    const read = await readSoftLabels(file, table, key, { kind: 'float32' });
    expect(read.ok).toBe(true);
    return table.values;
  }

  it('labels through the pool on onnxruntime with the soft labels tfjs gives, to 1e-4', async () => {
    // 700 rows: chunks of whole 256-row batches and a ragged end, over 2 workers.
    const train = dataset(700, [28, 28], 10);
    const teacher = buildModel('cnn:16,32', { inputShape: [28, 28], numClasses: 10, seed: 4 });
    const common = { teacher, train, workers: 2, backend: 'wasm' as const };
    const ort = await label({ ...common, softLabels: join(dir, 'ort.bin'), teacherRuntime: 'onnxruntime' });
    const tfjs = await label({ ...common, softLabels: join(dir, 'tfjs.bin'), teacherRuntime: 'tfjs' });
    const auto = await label({ ...common, softLabels: join(dir, 'auto.bin') });
    expect([ort.teacherRuntime, tfjs.teacherRuntime, auto.teacherRuntime]).toEqual(['onnxruntime', 'tfjs', 'onnxruntime']);
    expect(ort.notices.join()).toMatch(/onnxruntime-node/);
    const onOrt = await storeValues(ort.file, train, ort.key);
    const onTfjs = await storeValues(tfjs.file, train, tfjs.key);
    expect(Math.max(...Array.from(onTfjs, Math.abs))).toBeGreaterThan(0.01);
    expect(maxAbsDiff(onOrt, onTfjs)).toBeLessThan(1e-4);
    // The runtime is not part of the store's key: the same teacher's labels are reused whichever runtime asks.
    expect(ort.key).toBe(tfjs.key);
    const again = await label({ ...common, softLabels: ort.file, teacherRuntime: 'tfjs' });
    expect(again.reused).toBe(true);
  });

  it('labels a text teacher (a bidirectional LSTM over masked token ids) on onnxruntime with the soft labels tfjs gives', async () => {
    const random = mulberry32(5);
    const rows = 300;
    const length = 16;
    // Texts of every length, padded after the text with id 0.
    const x = new Float32Array(rows * length);
    for (let r = 0; r < rows; r++) for (let t = 0; t < r % (length + 1); t++) x[r * length + t] = 1 + Math.floor(random() * 49);
    const train: Dataset = { x, y: Int32Array.from({ length: rows }, (_, i) => i % 3), shape: [rows, length], numClasses: 3 };
    const teacher = buildModel('bilstm:8,6', { inputShape: [length], numClasses: 3, vocabSize: 50, seed: 2 });
    teacher.setWeights(teacher.getWeights().map((w) => tf.mul(w, 4)));
    const common = { teacher, train, workers: 2, backend: 'wasm' as const };
    const ort = await label({ ...common, softLabels: join(dir, 'text-ort.bin'), teacherRuntime: 'onnxruntime' });
    const tfjs = await label({ ...common, softLabels: join(dir, 'text-tfjs.bin'), teacherRuntime: 'tfjs' });
    expect([ort.teacherRuntime, tfjs.teacherRuntime]).toEqual(['onnxruntime', 'tfjs']);
    const onOrt = await storeValues(ort.file, train, ort.key);
    const onTfjs = await storeValues(tfjs.file, train, tfjs.key);
    expect(Math.max(...Array.from(onTfjs, Math.abs))).toBeGreaterThan(0.1);
    expect(maxAbsDiff(onOrt, onTfjs)).toBeLessThan(1e-4);
  });

  it("falls back to tfjs with a notice under 'auto' and fails under 'onnxruntime' for a layer it cannot export", async () => {
    const train = dataset(40, [8, 8], 3);
    const auto = await label({ teacher: gruTeacher(), train, softLabels: join(dir, 'gru.bin'), workers: 1 });
    expect(auto.teacherRuntime).toBe('tfjs');
    expect(auto.notices.join('\n')).toMatch(/the teacher runs on tfjs: its layer '.*' \(GRU\) has no ONNX export/);
    await expect(
      label({ teacher: gruTeacher(), train, softLabels: join(dir, 'gru2.bin'), workers: 1, teacherRuntime: 'onnxruntime' }),
    ).rejects.toThrow(/teacherRuntime 'onnxruntime' cannot run this teacher: its layer '.*' \(GRU\)/);
    await expect(
      label({ teacher: gruTeacher(), train, softLabels: join(dir, 'gru3.bin'), workers: 1, teacherRuntime: 'gpu' as 'tfjs' }),
    ).rejects.toThrow(/teacherRuntime 'gpu' is not one of auto, tfjs, onnxruntime/);
  });

  it("records the runtime in distill's report, the teacher's evaluation included", async () => {
    const train = dataset(256, [8, 8], 3);
    const test = dataset(64, [8, 8], 3, 2);
    const run = (teacherRuntime: 'tfjs' | 'onnxruntime') =>
      distill({
        teacher: buildModel('cnn:4', { inputShape: [8, 8], numClasses: 3, seed: 1 }),
        student: buildModel('mlp:8', { inputShape: [8, 8], numClasses: 3, seed: 2 }),
        train,
        test,
        epochs: 1,
        batchSize: 64,
        workers: 2,
        teacherRuntime,
      });
    const [onOrt, onTfjs] = [await run('onnxruntime'), await run('tfjs')];
    expect(onOrt.report.teacherRuntime).toBe('onnxruntime');
    expect(onOrt.report.notices.join('\n')).toMatch(/exported to ONNX/);
    expect(onTfjs.report.teacherRuntime).toBe('tfjs');
    expect(onOrt.report.teacher?.accuracy).toBe(onTfjs.report.teacher?.accuracy);
  });
});
