import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import type { Dataset } from '../dist/data/dataset.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { distill } from '../dist/distill/distill.js';
import { label as labelStore } from '../dist/labelling/label.js';
import { mergeShards } from '../dist/data/soft-label-shards.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { computeLogits } from '../dist/infer/logits.js';
import { buildModel } from '../dist/models/architectures.js';
import { openOnnxTeacher } from '../dist/models/onnx-teacher.js';
import { mulberry32 } from '../dist/random.js';

// Real ONNX files exported from PyTorch (test/fixtures/onnx/make_fixtures.py), run by onnxruntime-node.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'onnx');
const ort = createRequire(import.meta.url)('onnxruntime-node');
const fixture = (name: string) => join(FIXTURES, `${name}.onnx`);

/** `rows` rows of the given shape, multiples of 1/16 in [-2, 2), with labels 0..classes-1. */
function dataset(rows: number, featureShape: number[], classes: number, seed = 1): Dataset {
  const random = mulberry32(seed);
  const size = featureShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: rows * size }, () => Math.floor(random() * 64 - 32) / 16);
  return { x, y: Int32Array.from({ length: rows }, (_, i) => i % classes), shape: [rows, ...featureShape], numClasses: classes };
}

/** The model run directly on the main thread, on input already in its own layout. */
async function direct(name: string, input: Float32Array, dims: number[], output?: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(fixture(name));
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, dims) });
  await session.release();
  return result[output ?? session.outputNames[0]].data as Float32Array;
}

/** NHWC rows to NCHW. */
function toChannelsFirst(x: Float32Array, rows: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < rows; n++)
    for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) out[n * h * w * c + ch * h * w + p] = x[n * h * w * c + p * c + ch];
  return out;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
};

describe('ONNX teachers', () => {
  let pool: TfjsPool;
  let dir: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    pool = await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000 });
    dir = await mkdtemp(join(tmpdir(), 'onnx-teacher-'));
  });
  afterAll(async () => {
    await pool.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  /** Labels `data` with the ONNX teacher through the pool (2 workers, several chunks). */
  async function label(
    name: string,
    data: Dataset,
    options: Parameters<typeof openOnnxTeacher>[1] extends infer O ? Partial<O> : never = {},
  ) {
    const shared = SharedDataset.fromDataset(data, 'train');
    const teacher = await openOnnxTeacher(fixture(name), { featureShape: shared.featureShape, numClasses: shared.numClasses, ...options });
    const run = await computeLogits(pool, teacher.spec, shared, { phase: 'label', onProgress: () => {} });
    return { logits: run.table.values, teacher };
  }

  it('labels flat rows in the pool as onnxruntime does on the main thread, and as PyTorch computed', async () => {
    const data = dataset(700, [4, 4], 4); // [4, 4] rows feed a [batch, 16] input
    const { logits, teacher } = await label('mlp', data);
    expect(teacher.spec).toMatchObject({ inputShape: [16], toChannelsFirst: false, outputKind: 'logits' });
    expect(teacher.params).toBe(16 * 12 + 12 + 12 * 4 + 4);
    expect(maxAbsDiff(logits, await direct('mlp', data.x as Float32Array, [700, 16]))).toBeLessThanOrEqual(1e-6);
    const expected = JSON.parse(await readFile(join(FIXTURES, 'expected.json'), 'utf8')).models.mlp;
    const single = await label('mlp', {
      x: Float32Array.from(expected.inputs.input.data),
      y: Int32Array.from([0, 1]),
      shape: [2, 16],
      numClasses: 4,
    });
    expect(maxAbsDiff(single.logits, expected.outputs.logits.data)).toBeLessThanOrEqual(1e-5);
  });

  it('transposes NHWC image rows for an NCHW model (3 channels), and reads a 1-channel one as is', async () => {
    const rgb = dataset(600, [6, 6, 3], 5, 2);
    const { logits, teacher } = await label('cnn_nchw', rgb);
    expect(teacher.spec).toMatchObject({ inputShape: [3, 6, 6], toChannelsFirst: true });
    const reference = await direct('cnn_nchw', toChannelsFirst(rgb.x as Float32Array, 600, 6, 6, 3), [600, 3, 6, 6]);
    expect(maxAbsDiff(logits, reference)).toBeLessThanOrEqual(1e-5);
    // Without the transpose the values would differ: the check can fail.
    expect(maxAbsDiff(logits, await direct('cnn_nchw', rgb.x as Float32Array, [600, 3, 6, 6]))).toBeGreaterThan(1e-2);
    // PyTorch's own outputs for two NCHW rows, fed to the pool as NHWC rows.
    const expected = JSON.parse(await readFile(join(FIXTURES, 'expected.json'), 'utf8')).models.cnn_nchw;
    const nchw = Float32Array.from(expected.inputs.input.data as number[]);
    const nhwc = new Float32Array(nchw.length);
    for (let n = 0; n < 2; n++)
      for (let c = 0; c < 3; c++) for (let p = 0; p < 36; p++) nhwc[n * 108 + p * 3 + c] = nchw[n * 108 + c * 36 + p];
    const fromPytorch = await label('cnn_nchw', { x: nhwc, y: Int32Array.from([0, 1]), shape: [2, 6, 6, 3], numClasses: 5 });
    expect(maxAbsDiff(fromPytorch.logits, expected.outputs.logits.data)).toBeLessThanOrEqual(1e-5);
    const gray = dataset(300, [8, 8], 3, 3);
    const grayRun = await label('cnn_gray', gray);
    expect(grayRun.teacher.spec).toMatchObject({ inputShape: [1, 8, 8], toChannelsFirst: false });
    expect(maxAbsDiff(grayRun.logits, await direct('cnn_gray', gray.x as Float32Array, [300, 1, 8, 8]))).toBeLessThanOrEqual(1e-5);
  });

  it('turns a Softmax output into log-probabilities (softmax of them gives the model output back), with a notice', async () => {
    const data = dataset(300, [16], 4, 4);
    const { logits, teacher } = await label('mlp_softmax', data);
    expect(teacher.spec.outputKind).toBe('softmax');
    expect(teacher.notices.join()).toMatch(/holds probabilities \(it ends in Softmax\)/);
    const probabilities = await direct('mlp_softmax', data.x as Float32Array, [300, 16]);
    const recovered = tf.tidy(() => tf.softmax(tf.tensor2d(logits, [300, 4])).dataSync());
    expect(maxAbsDiff(recovered, probabilities)).toBeLessThanOrEqual(1e-5);
    expect(Math.max(...logits)).toBeLessThanOrEqual(0); // log-probabilities, not the probabilities
    const log = await label('mlp_logsoftmax', data);
    expect(log.teacher.spec.outputKind).toBe('log-softmax');
    // Log-probabilities are used as they are.
    expect(maxAbsDiff(log.logits, await direct('mlp_logsoftmax', data.x as Float32Array, [300, 16]))).toBeLessThanOrEqual(1e-6);
    expect(log.teacher.notices.join()).toMatch(/holds log-probabilities \(it ends in LogSoftmax\)/);
  });

  it('reads the named output of a model with several; the first one must have one score per class', async () => {
    const data = dataset(100, [16], 4, 5);
    const { logits } = await label('two_outputs', data, { output: 'logits' });
    expect(maxAbsDiff(logits, await direct('two_outputs', data.x as Float32Array, [100, 16], 'logits'))).toBeLessThanOrEqual(1e-6);
    await expect(label('two_outputs', data)).rejects.toThrow(
      /two_outputs\.onnx's output 'features' has shape \[batch,12\], but the data has 4 classes; .*teacherOutput/,
    );
    await expect(label('two_outputs', data, { output: 'scores' })).rejects.toThrow(
      /has no output 'scores'; its outputs are features, logits/,
    );
  });

  it('teacherNormalize gives the same labels as normalising the data first', async () => {
    const rgb = dataset(300, [6, 6, 3], 5, 6);
    const mean = [0.5, -0.25, 0.125];
    const std = [2, 0.5, 4];
    const normalized = Float32Array.from(rgb.x as Float32Array, (v, i) => (v - mean[i % 3]) / std[i % 3]);
    const shared = SharedDataset.fromDataset(rgb, 'train');
    const teacher = await openOnnxTeacher(fixture('cnn_nchw'), { featureShape: [6, 6, 3], numClasses: 5 });
    const run = await computeLogits(pool, { ...teacher.spec, normalize: { mean, std, channels: 3 } }, shared, {
      phase: 'label',
      onProgress: () => {},
    });
    const reference = await direct('cnn_nchw', toChannelsFirst(normalized, 300, 6, 6, 3), [300, 3, 6, 6]);
    expect(maxAbsDiff(run.table.values, reference)).toBeLessThanOrEqual(1e-5);
  });

  it('bad models: one clear error each', async () => {
    const open = (file: string, featureShape = [16], numClasses = 4) => openOnnxTeacher(file, { featureShape, numClasses });
    await expect(open(join(dir, 'missing.onnx'))).rejects.toThrow(/^cannot read the ONNX teacher .*missing\.onnx: ENOENT/);
    const corrupt = join(dir, 'corrupt.onnx');
    await writeFile(corrupt, Buffer.from('this is not a protobuf model'));
    await expect(open(corrupt)).rejects.toThrow(/corrupt\.onnx is not a readable ONNX model \(.*\); export the teacher again$/);
    await expect(open(fixture('two_inputs'))).rejects.toThrow(/two_inputs\.onnx has 2 inputs \(a, b\); tfjs-distill feeds one input/);
    await expect(open(fixture('cnn_nchw'), [8, 8])).rejects.toThrow(
      /takes input \[batch,3,6,6\], which does not fit rows of shape \[8,8\]; give data of the model's input shape, or set teacherLayout/,
    );
    await expect(open(fixture('mlp'), [16], 10)).rejects.toThrow(/output 'logits' has shape \[batch,4\], but the data has 10 classes/);
    // The same file with rows it fits opens, reading its interface.
    expect((await open(fixture('mlp'), [4, 4], 4)).spec).toMatchObject({
      inputName: 'input',
      outputName: 'logits',
      inputShape: [16],
      outputKind: 'logits',
      numClasses: 4,
    });
  });

  it('says how to install onnxruntime-node when it cannot be loaded', async () => {
    // A child process whose module resolver refuses the package, as if the optional dependency were absent.
    const dataUrl = (code: string) => `data:text/javascript,${encodeURIComponent(code)}`;
    const hooks = `export async function resolve(specifier, context, next) {
      if (specifier === 'onnxruntime-node') throw new Error('Cannot find package onnxruntime-node');
      return next(specifier, context);
    }`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify(dataUrl(hooks))});`;
    const module = new URL('../dist/models/onnx-teacher.js', import.meta.url).href;
    const script = `import { openOnnxTeacher } from ${JSON.stringify(module)};
      try { await openOnnxTeacher(${JSON.stringify(fixture('mlp'))}, { featureShape: [16], numClasses: 4 }); }
      catch (e) { console.log(e.name + ': ' + e.message); }`;
    const child = spawnSync(process.execPath, ['--import', dataUrl(register), '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.stdout.trim()).toMatch(
      /^DistillError: ONNX teachers run on onnxruntime-node, which could not be loaded \(.*\); install it with ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node/,
    );
  });

  it('label(): an ONNX teacher (normalised) labels in shards that merge into the store of one run, byte for byte', async () => {
    const data = dataset(1000, [6, 6, 3], 5, 12);
    const normalize = { mean: [0.1, 0.2, 0.3], std: [2, 1, 0.5] };
    const whole = join(dir, 'whole.sl');
    const single = await labelStore({
      teacher: fixture('cnn_nchw'),
      train: data,
      softLabels: whole,
      teacherNormalize: normalize,
      workers: 2,
    });
    expect(single.reused).toBe(false);
    const parts = join(dir, 'parts.sl');
    const files: string[] = [];
    for (const index of [0, 1]) {
      const shard = { index, count: 2 };
      files.push(
        (await labelStore({ teacher: fixture('cnn_nchw'), train: data, softLabels: parts, teacherNormalize: normalize, shard, workers: 2 }))
          .file,
      );
    }
    await mergeShards(parts, files);
    const [a, b] = [await readFile(whole), await readFile(parts)];
    const headerEnd = (bytes: Buffer) => 12 + bytes.readUInt32LE(8);
    // Everything after the header (the rows and their checksum) is identical; the header's time differs.
    expect(b.subarray(headerEnd(b))).toEqual(a.subarray(headerEnd(a)));
    // Another normalisation is another teacher: the store is not reused.
    const other = await labelStore({ teacher: fixture('cnn_nchw'), train: data, softLabels: whole, workers: 2 });
    expect(other.reused).toBe(false);
  });

  it('distill() with an ONNX teacher: soft labels from it, its column of the report filled, no teacher model returned', async () => {
    const train = dataset(512, [16], 4, 7);
    const test = dataset(128, [16], 4, 8);
    const student = buildModel('mlp:8', { inputShape: [16], numClasses: 4, seed: 1 });
    const { report, teacher } = await distill({
      teacher: fixture('mlp_softmax'),
      student,
      train,
      test,
      epochs: 2,
      workers: 2,
      batchSize: 64,
      allowWeakTeacher: true, // a fixture teacher on random rows: how it runs is on trial here
    });
    expect(teacher).toBeUndefined();
    const testLogits = await direct('mlp_softmax', test.x as Float32Array, [128, 16]);
    const predictions = Array.from({ length: 128 }, (_, r) =>
      testLogits.subarray(r * 4, r * 4 + 4).reduce((b, v, i, a) => (v > a[b] ? i : b), 0),
    );
    const expectedAccuracy = predictions.filter((p, r) => p === test.y[r]).length / 128;
    expect(report.teacher.accuracy).toBeCloseTo(expectedAccuracy, 10);
    expect(report.teacher.params).toBe(256);
    expect(report.teacher.latencyMsBatch1).toBeGreaterThan(0);
    expect(report.notices.join('\n')).toMatch(/holds probabilities \(it ends in Softmax\)/);
    await expect(distill({ teacher: fixture('mlp'), student, train, test, teacherEpochs: 1, workers: 2 })).rejects.toThrow(
      /^teacherEpochs 1 trains the teacher, but an ONNX teacher .* runs as given; set teacherEpochs to 0$/,
    );
  });

  it('the CLI: --teacher FILE.onnx with --teacher-normalize, and flag names in its errors', async () => {
    // Rows of 16 floats in a CSV, 4 classes.
    const random = mulberry32(9);
    const lines = Array.from({ length: 400 }, (_, i) =>
      [i % 4, ...Array.from({ length: 16 }, () => (random() * 4 - 2).toFixed(3))].join(','),
    );
    const csv = join(dir, 'rows.csv');
    await writeFile(csv, lines.join('\n'));
    const out = join(dir, 'cli-out');
    const run = (...extra: string[]) =>
      runCli([
        'run',
        '--data',
        `csv:${csv}`,
        '--teacher',
        fixture('mlp'),
        '--student-arch',
        'mlp:4',
        '--epochs',
        '1',
        '--workers',
        '2',
        '--out',
        out,
        '--allow-weak-teacher', // a fixture teacher on random rows: the flags are on trial here
        ...extra,
      ]);
    const result = run('--teacher-normalize', '0.1:2');
    expect(result.status).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.teacher.params).toBe(256);
    expect(report.config.teacherNormalize).toEqual({ mean: [0.1], std: [2] });
    expect(result.stdout).not.toMatch(/cli-out\/teacher\//);
    const bad = run('--teacher-normalize', '0.1,0.2:2');
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(
      /^tfjs-distill: error: --teacher-normalize has 2 means and 1 stds, but the rows \[16\] have 1 channel/,
    );
    const layout = run('--teacher-layout', 'nchw', '--out', join(dir, 'cli-out-2'));
    expect(layout.stderr.trim().split('\n').at(-1)).toMatch(/--teacher-layout applies to image rows and a rank-4 input/);
  });
});
