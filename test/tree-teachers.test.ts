import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../dist/data/dataset.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { mergeShards } from '../dist/data/soft-label-shards.js';
import { computeLogits } from '../dist/infer/logits.js';
import { label as labelStore } from '../dist/labelling/label.js';
import { labelsOntoTeacherClasses, readOnnxMlClasses } from '../dist/models/onnx-ml-teacher.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { NO_TEACHER_SETTINGS, openLabellingTeacher, teacherModelDigest, openTeacher } from '../dist/teachers/open-teacher.js';
import { runCli } from './helpers/cli.js';
import { Cli, expectSameBytes, freePort, hasRedis, startRedis } from './helpers/queue-processes.js';

// Real scikit-learn and XGBoost ensembles as ONNX-ML graphs (examples/trees/make_tree_teachers.py), run by
// onnxruntime-node, on the real Seattle weather rows they were trained on.
const HERE = dirname(fileURLToPath(import.meta.url));
const TREES = join(HERE, 'fixtures', 'trees');
const TABLES = join(HERE, 'fixtures', 'tabular');
const ort = createRequire(import.meta.url)('onnxruntime-node');
const fixture = (name: string) => join(TREES, `${name}.onnx`);

interface Expected {
  features: string[];
  label: string;
  classes: string[];
  testRows: number;
  models: Record<string, { accuracy: number; predictions: string[] }>;
}

/** The weather table's feature columns (as float32) and label strings. */
async function readWeather(name: string, features: string[], labelColumn: string) {
  const [header, ...lines] = (await readFile(join(TABLES, name), 'utf8')).trim().split('\n');
  const columns = header.split(',');
  const rows = lines.map((line) => line.split(','));
  const x = Float32Array.from(rows.flatMap((cells) => features.map((f) => Number(cells[columns.indexOf(f)]))));
  return { x, labels: rows.map((cells) => cells[columns.indexOf(labelColumn)]) };
}

/** A headerless CSV of the class index (in the teacher's order) then the features, as the csv reader takes it. */
function indexCsv(data: Dataset): string {
  const size = data.shape[1];
  return Array.from(data.y, (y, row) => [y, ...data.x.subarray(row * size, (row + 1) * size)].join(',')).join('\n');
}

const argmax = (values: Float32Array, row: number, classes: number) => {
  let best = 0;
  for (let c = 1; c < classes; c++) if (values[row * classes + c] > values[row * classes + best]) best = c;
  return best;
};

describe('tree-ensemble (ONNX-ML) teachers', () => {
  let pool: TfjsPool;
  let dir: string;
  let expected: Expected;
  let train: Dataset;
  let test: Dataset;
  let testLabels: string[];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    pool = await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000 });
    dir = await mkdtemp(join(tmpdir(), 'tree-teachers-'));
    expected = JSON.parse(await readFile(join(TREES, 'expected.json'), 'utf8'));
    const classes = await readOnnxMlClasses(fixture('forest_zipmap'));
    const load = async (name: string) => {
      const table = await readWeather(name, expected.features, expected.label);
      const y = labelsOntoTeacherClasses(table.labels, classes);
      return { data: { x: table.x, y, shape: [y.length, expected.features.length], numClasses: classes.length }, labels: table.labels };
    };
    train = (await load('weather-train.csv')).data;
    ({ data: test, labels: testLabels } = await load('weather-test.csv'));
  });
  afterAll(async () => {
    await pool?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  /** The teacher's logits for `data` through the pool, opened as `label` and `distill` open it. */
  async function teacherLogits(name: string, data: Dataset, settings: Partial<typeof NO_TEACHER_SETTINGS> = {}) {
    const shared = SharedDataset.fromDataset(data, 'train');
    const teacher = await openLabellingTeacher(fixture(name), shared, { ...NO_TEACHER_SETTINGS, ...settings });
    const run = await computeLogits(pool, teacher.model, shared, { phase: 'label', onProgress: () => {} });
    return { logits: run.table.values, teacher };
  }

  /** The probabilities onnxruntime gives for the graph's own tensor output, on this thread. */
  async function direct(name: string, x: Float32Array, rows: number, output: string, type = 'float32'): Promise<Float32Array> {
    const session = await ort.InferenceSession.create(fixture(name));
    const input = type === 'float64' ? new ort.Tensor('float64', Float64Array.from(x), [rows, 4]) : new ort.Tensor('float32', x, [rows, 4]);
    const result = await session.run({ float_input: input });
    await session.release();
    return result[output].data as Float32Array;
  }

  for (const model of ['forest', 'boosting', 'xgboost']) {
    for (const layout of ['_zipmap', '']) {
      it(`${model}${layout}: test accuracy through the pool matches the library's own predict`, async () => {
        const { logits, teacher } = await teacherLogits(`${model}${layout}`, test);
        const classes = expected.classes;
        const predicted = Array.from({ length: test.shape[0] }, (_, row) => classes[argmax(logits, row, classes.length)]);
        const accuracy = predicted.filter((p, row) => p === testLabels[row]).length / predicted.length;
        const reference = expected.models[model];
        expect(predicted.length).toBe(expected.testRows);
        expect(Math.abs(accuracy - reference.accuracy)).toBeLessThanOrEqual(0.001);
        const disagreements = predicted.filter((p, row) => p !== reference.predictions[row]).length;
        expect(disagreements).toBeLessThanOrEqual(Math.floor(0.001 * predicted.length));
        expect(teacher.runtime).toBe('onnxruntime');
        expect(teacher.notices.join('\n')).toMatch(/ONNX-ML TreeEnsembleClassifier; its output 'probabilities'.* holds probabilities/);
        if (layout) expect(teacher.notices.join('\n')).toMatch(/ZipMap 'output_probability'/);
        expect(teacher.notices).toContain(`the teacher's classes, in the order of its probabilities: ${classes.join(', ')}`);
      });
    }
  }

  it('ZipMap taken out in memory: the logits are log(max(p, 1e-6)) of the ZipMap-free graph, which softmax gives back', async () => {
    const { logits } = await teacherLogits('forest_zipmap', train);
    const probabilities = await direct('forest', train.x as Float32Array, train.shape[0], 'probabilities');
    let worst = 0;
    let floored = 0;
    for (let i = 0; i < probabilities.length; i++) {
      worst = Math.max(worst, Math.abs(logits[i] - Math.log(Math.max(probabilities[i], 1e-6))));
      if (probabilities[i] === 0) floored++;
    }
    expect(worst).toBeLessThan(1e-5);
    expect(floored).toBeGreaterThan(0); // the floor was exercised: forests give exact zeros
    const row = Array.from(logits.subarray(0, 5), Math.exp);
    const sum = row.reduce((a, b) => a + b, 0);
    row.forEach((p, c) => expect(p / sum).toBeCloseTo(probabilities[c], 4));
  });

  it('teacherOutput may name the ZipMap output (its probabilities are read) but not the label output', async () => {
    const named = await teacherLogits('boosting_zipmap', test, { teacherOutput: 'output_probability' });
    const plain = await teacherLogits('boosting_zipmap', test);
    expect(named.logits).toEqual(plain.logits);
    await expect(teacherLogits('boosting_zipmap', test, { teacherOutput: 'output_label' })).rejects.toThrow(
      /output 'output_label' is not a float \[batch, classes\] tensor of probabilities; pick one of probabilities with teacherOutput/,
    );
    await expect(teacherLogits('boosting_zipmap', test, { teacherOutput: 'nope' })).rejects.toThrow(
      /has no output 'nope'; its outputs are output_label, output_probability \(ZipMap\) \(teacherOutput\)/,
    );
  });

  it('a double input and int64 class labels (ZipMap keyed by int64) are read as the graph declares them', async () => {
    const rows = 50;
    const x = (test.x as Float32Array).slice(0, rows * 4);
    const subset: Dataset = { x, y: test.y.slice(0, rows), shape: [rows, 4], numClasses: 5 };
    const double = await teacherLogits('small_double_input', subset);
    const probabilities = await direct('small_double_input', x, rows, 'probabilities', 'float64');
    for (let i = 0; i < probabilities.length; i++) expect(double.logits[i]).toBeCloseTo(Math.log(Math.max(probabilities[i], 1e-6)), 5);
    const ints = await teacherLogits('small_int_labels_zipmap', subset);
    expect(ints.teacher.notices).toContain("the teacher's classes, in the order of its probabilities: 0, 1, 2, 3, 4");
    expect(await readOnnxMlClasses(fixture('small_int_labels_zipmap'))).toEqual(['0', '1', '2', '3', '4']);
  });

  it('the kind is recognised by an ai.onnx.ml estimator; an ordinary ONNX file, or ONNX-ML preprocessing alone, stays with the onnx kind', async () => {
    const shared = SharedDataset.fromDataset(test, 'train');
    expect((await openTeacher(fixture('forest'), shared, NO_TEACHER_SETTINGS)).kind).toBe('onnx-ml');
    const mlp = { x: new Float32Array(32), y: Int32Array.from([0, 1]), shape: [2, 16], numClasses: 4 };
    const plain = await openTeacher(
      join(HERE, 'fixtures', 'onnx', 'mlp.onnx'),
      SharedDataset.fromDataset(mlp, 'train'),
      NO_TEACHER_SETTINGS,
    );
    expect(plain.kind).toBe('onnx');
    // ONNX-ML preprocessing in front of a network (Scaler, then logits) is no estimator: it stays an onnx teacher.
    const scaled = await openTeacher(fixture('small_scaler_network'), shared, NO_TEACHER_SETTINGS);
    expect(scaled.kind).toBe('onnx');
  });

  it('label(): shards merge into the store of one run, byte for byte; the key covers the graph bytes', async () => {
    const whole = join(dir, 'whole.sl');
    const single = await labelStore({ teacher: fixture('forest_zipmap'), train, softLabels: whole, workers: 2 });
    expect(single.reused).toBe(false);
    expect(single.notices.join('\n')).toMatch(/ZipMap/);
    const parts = join(dir, 'parts.sl');
    const files: string[] = [];
    for (const index of [0, 1]) {
      files.push(
        (await labelStore({ teacher: fixture('forest_zipmap'), train, softLabels: parts, shard: { index, count: 2 }, workers: 2 })).file,
      );
    }
    await mergeShards(parts, files);
    const [a, b] = [await readFile(whole), await readFile(parts)];
    const headerEnd = (bytes: Buffer) => 12 + bytes.readUInt32LE(8);
    expect(b.subarray(headerEnd(b))).toEqual(a.subarray(headerEnd(a)));
    expect((await labelStore({ teacher: fixture('forest_zipmap'), train, softLabels: whole, workers: 2 })).reused).toBe(true);
    // The same trees without ZipMap are other bytes: another key, not reused, though the logits are the same.
    const unzipped = await labelStore({ teacher: fixture('forest'), train, softLabels: whole, workers: 2 });
    expect(unzipped.reused).toBe(false);
    expect(unzipped.key).not.toBe(single.key);
    // One byte changed in a leaf weight is another teacher too.
    const bytes = await readFile(fixture('forest_zipmap'));
    const edited = Buffer.from(bytes);
    const weightAt = edited.indexOf(Buffer.from('class_weights')) + 20;
    edited[weightAt] ^= 1;
    await writeFile(join(dir, 'edited.onnx'), edited);
    const shared = SharedDataset.fromDataset(train, 'train');
    const [original, changed] = [
      teacherModelDigest(await openTeacher(fixture('forest_zipmap'), shared, NO_TEACHER_SETTINGS)),
      teacherModelDigest(await openTeacher(join(dir, 'edited.onnx'), shared, NO_TEACHER_SETTINGS)),
    ];
    expect(changed).not.toBe(original);
  });

  it('the CLI label command labels a CSV of weather rows with a ZipMap forest, and names the output it read', async () => {
    await writeFile(join(dir, 'weather.csv'), indexCsv(train));
    const result = runCli([
      'label',
      '--data',
      `csv:${join(dir, 'weather.csv')}`,
      '--teacher',
      fixture('forest_zipmap'),
      '--soft-labels',
      join(dir, 'cli.sl'),
      '--workers',
      '2',
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/labelled \d+ rows \(every row\) .*onnxruntime/);
    expect(result.stdout).toMatch(/its output 'probabilities', the probabilities its ZipMap 'output_probability' wraps/);
  });

  it.skipIf(!hasRedis)('the queue: a worker process labels with the ZipMap forest, the store identical to a local label', async () => {
    await writeFile(join(dir, 'queue.csv'), indexCsv(train));
    const port = await freePort();
    const redis = await startRedis(port);
    const queue = `redis://127.0.0.1:${port}/trees`;
    const worker = new Cli(['worker', '--queue', queue, '--workers', '1']);
    try {
      const label = (store: string, ...flags: string[]) =>
        new Cli([
          'label',
          '--data',
          `csv:${join(dir, 'queue.csv')}`,
          '--teacher',
          fixture('forest_zipmap'),
          '--soft-labels',
          join(dir, store),
          '--workers',
          '1',
          ...flags,
        ]).exited;
      const [local, queued] = await Promise.all([label('local.sl'), label('queued.sl', '--queue', queue, '--job-rows', '256')]);
      expect(local.status, local.stderr).toBe(0);
      expect(queued.status, queued.stderr).toBe(0);
      expect(queued.stdout).toMatch(/labelled 800 rows in 4 jobs/);
      await expectSameBytes(join(dir, 'queued.sl'), join(dir, 'local.sl'));
      expect((await worker.stop('SIGTERM')).status).toBe(0);
    } finally {
      worker.child.kill('SIGKILL');
      redis.kill('SIGKILL');
    }
  });

  describe('bad input: one line naming the fix', () => {
    const rows = 20;
    const subset = (features = 4, classes = 5): Dataset => ({
      x: (test.x as Float32Array).slice(0, rows * 4).filter((_, i) => i % 4 < features),
      y: Int32Array.from({ length: rows }, (_, i) => i % classes),
      shape: [rows, features],
      numClasses: classes,
    });
    const open = (name: string, data: Dataset, settings: Partial<typeof NO_TEACHER_SETTINGS> = {}) =>
      openLabellingTeacher(fixture(name), SharedDataset.fromDataset(data, 'train'), { ...NO_TEACHER_SETTINGS, ...settings });

    it('operators onnxruntime cannot run are named', async () => {
      await expect(open('small_unknown_operator', subset())).rejects.toThrow(
        /onnxruntime-node cannot run the teacher .*small_unknown_operator\.onnx: it implements no Calibrate \(ai\.onnx\.ml\); export the model with operators onnxruntime implements/,
      );
    });

    it('several candidate outputs are listed, and teacherOutput picks one', async () => {
      await expect(open('small_two_outputs', subset())).rejects.toThrow(
        /has 2 outputs that could hold the class probabilities \(scores_a, scores_b\); name one with teacherOutput/,
      );
      const picked = await open('small_two_outputs', subset(), { teacherOutput: 'scores_b' });
      expect(picked.model).toMatchObject({ outputName: 'scores_b' });
      expect(picked.notices[0]).toMatch(/^the teacher is an ONNX-ML TreeEnsembleClassifier; its output 'scores_b' holds probabilities/);
    });

    it('probabilities that do not sum to 1', async () => {
      await expect(open('small_unnormalised', subset())).rejects.toThrow(
        /output 'probabilities' does not hold probabilities: on row 1 it sums to 3\.000, not 1; pick the probabilities with teacherOutput, or export/,
      );
    });

    it('a feature-count mismatch names both numbers', async () => {
      await expect(open('forest', subset(3))).rejects.toThrow(
        /takes 4 features per row, but the data's rows have 3; give rows of the 4 features the teacher was trained on, in its order/,
      );
    });

    it('a class-count mismatch, and a label the teacher does not know', async () => {
      await expect(open('forest', subset(4, 3))).rejects.toThrow(
        /has 5 classes \(drizzle, fog, rain, snow, sun\), but the data has 3; give data labelled with the teacher's classes/,
      );
      expect(() => labelsOntoTeacherClasses(['rain', '', 'hail'], expected.classes)).toThrow(
        /row 3 has label 'hail', which is not among the teacher's classes \(drizzle, fog, rain, snow, sun\); relabel the row/,
      );
      expect(Array.from(labelsOntoTeacherClasses(['sun', '', 'drizzle'], expected.classes))).toEqual([4, -1, 0]);
    });

    it('a regression ensemble is refused', async () => {
      await expect(open('small_regressor', { ...subset(3), numClasses: 5 })).rejects.toThrow(
        /is a TreeEnsembleRegressor: tfjs-distill distils classifiers, and regression teachers are not supported yet/,
      );
    });

    it('teacherLayout is refused for an ONNX-ML teacher; the CLI names the flag', async () => {
      await expect(open('forest', subset(), { teacherLayout: 'nchw' })).rejects.toThrow(
        /teacherLayout applies to ONNX teachers; drop it for an ONNX-ML classifier/,
      );
      await writeFile(join(dir, 'small.csv'), indexCsv(subset()));
      const result = runCli([
        'label',
        '--data',
        `csv:${join(dir, 'small.csv')}`,
        '--teacher',
        fixture('small_two_outputs'),
        '--soft-labels',
        join(dir, 'x.sl'),
      ]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/name one with --teacher-output/);
    });
  });
});
