import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataSource, teacherSplits } from '../dist/data/data-source.js';
import type { Dataset } from '../dist/data/dataset.js';
import { distill } from '../dist/distill/distill.js';
import { label } from '../dist/labelling/label.js';
import { buildModel } from '../dist/models/architectures.js';
import { loadModel, saveModel } from '../dist/models/model-files.js';
import { runCli, runCliAsync } from './helpers/cli.js';

const FIXTURES = new URL('./fixtures/tabular/', import.meta.url).pathname;
const WEATHER = ['train', 'test'].map((split) => join(FIXTURES, `weather-${split}.csv`));
const WEATHER_FLAGS = ['--features', 'precipitation,temp_max,temp_min,wind', '--label-field', 'weather'];
const PENGUINS = join(FIXTURES, 'penguins.csv');
const PENGUIN_FEATURES = ['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tabular-distill-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The accuracy of a model's top class on the rows of `data`, computed here on the calling thread. */
function accuracyOn(model: tf.LayersModel, data: Dataset): number {
  const predicted = tf.tidy(() =>
    (model.predict(tf.tensor2d(data.x as Float32Array, data.shape as [number, number])) as tf.Tensor).argMax(-1).dataSync(),
  );
  return predicted.reduce((hits, label, row) => hits + (label === data.y[row] ? 1 : 0), 0) / data.y.length;
}

const loadWeather = () =>
  loadDataSource({
    source: `csv:${WEATHER[0]}`,
    testSource: `csv:${WEATHER[1]}`,
    testFraction: 0.2,
    seed: 1,
    features: ['precipitation', 'temp_max', 'temp_min', 'wind'],
    labelField: 'weather',
  });

// The untrained teachers here are near chance by design: the tests are about which rows they read.
const SHORT = { workers: 1, epochs: 1, batchSize: 64, labeled: 100, allowWeakTeacher: true } as const;

describe('distill() on a table: the teacher reads its own rows, the student standardised ones', () => {
  it('a teacher given as a model reads the raw rows (teacherView): its test accuracy and the soft-label store follow them', async () => {
    const splits = await loadWeather();
    const raw = teacherSplits(splits);
    const teacher = buildModel('mlp:8', { inputShape: [4], numClasses: 5, seed: 3 });
    const onRaw = accuracyOn(teacher, raw.test);
    // The two kinds of rows give this teacher different accuracies, so that the report says which it read.
    expect(onRaw).not.toBe(accuracyOn(teacher, splits.test));
    // Soft labels written by label() from the raw rows are this run's: the store's key covers the rows the teacher reads.
    const store = join(dir, 'weather.sl');
    await label({ teacher, train: raw.train, softLabels: store, workers: 1 });
    const student = () => buildModel('mlp:4', { inputShape: [4], numClasses: 5, seed: 4 });
    const { train, test, teacherView } = splits;
    const result = await distill({ ...SHORT, teacher, student: student(), train, test, teacherView, softLabels: store });
    expect(result.report.teacher?.accuracy).toBe(onRaw);
    expect(result.report.softLabels.reused).toBe(true);
    // Without the teacher view the teacher reads the student's rows: another key, so the store is labelled again.
    const plain = await distill({ ...SHORT, teacher, student: student(), train: splits.train, test: splits.test, softLabels: store });
    expect(plain.report.softLabels.reused).toBe(false);
    expect(plain.report.teacher?.accuracy).toBe(accuracyOn(teacher, splits.test));
  });

  it('a teacher trained by the run trains on and reads the student rows, missing-value inputs included', async () => {
    const splits = await loadDataSource({ source: `csv:${PENGUINS}`, testFraction: 0.2, seed: 1, features: PENGUIN_FEATURES });
    expect([splits.train.shape[1], teacherSplits(splits).train.shape[1]]).toEqual([8, 4]);
    // Built for the student's 8 inputs: reading the 4 raw columns would be refused for their shape.
    const teacher = buildModel('mlp:16', { inputShape: [8], numClasses: 3, seed: 5 });
    const student = buildModel('mlp:4', { inputShape: [8], numClasses: 3, seed: 6 });
    const { train, test, teacherView } = splits;
    const result = await distill({ ...SHORT, epochs: 5, teacherEpochs: 20, teacher, student, train, test, teacherView });
    expect(result.teacher?.inputs[0].shape).toEqual([null, 8]);
    expect(result.report.teacher?.accuracy).toBeGreaterThan(0.9);
    expect(result.report.teacher?.accuracy).toBe(accuracyOn(result.teacher!, splits.test));
  });

  it('refuses a teacher view whose rows are not those of train and test', async () => {
    const splits = await loadWeather();
    const raw = teacherSplits(splits);
    const teacher = buildModel('mlp:4', { inputShape: [4], numClasses: 5, seed: 3 });
    const student = buildModel('mlp:4', { inputShape: [4], numClasses: 5, seed: 4 });
    const fewer = { ...raw, test: { ...raw.test, x: raw.test.x.subarray(0, 40), y: raw.test.y.subarray(0, 10), shape: [10, 4] } };
    await expect(distill({ ...SHORT, teacher, student, train: splits.train, test: splits.test, teacherView: fewer })).rejects.toThrow(
      /^teacherView test is not the rows of test: it needs the same rows in the same order, with the same labels$/,
    );
  });
});

describe('tfjs-distill run --data csv:FILE (a table)', () => {
  it('weather end to end: a teacher trained by the run, few labels, string classes; report and config say the columns', async () => {
    const out = join(dir, 'weather-run');
    const result = runCli([
      'run',
      '--data',
      `csv:${WEATHER[0]}`,
      '--test-data',
      `csv:${WEATHER[1]}`,
      ...WEATHER_FLAGS,
      '--teacher-arch',
      'mlp:64,64',
      '--teacher-epochs',
      '30',
      '--student-arch',
      'mlp:16',
      '--labeled',
      '100',
      '--epochs',
      '30',
      '--workers',
      '2',
      '--out',
      out,
    ]);
    expect(result.stderr).not.toMatch(/error/);
    expect(result.status).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.data).toMatchObject({
      trainRows: 1000,
      labeledRows: 100,
      testRows: 461,
      featureShape: [4],
      numClasses: 5,
      classes: ['drizzle', 'fog', 'rain', 'snow', 'sun'],
    });
    expect(report.config).toMatchObject({ features: ['precipitation', 'temp_max', 'temp_min', 'wind'], labelField: 'weather' });
    // Most days are rain or sun, which the columns tell apart; drizzle and fog they hardly do.
    expect(report.teacher.accuracy).toBeGreaterThan(0.7);
    expect(report.student.accuracy).toBeGreaterThan(0.6);
    expect(report.notices).toContain('class order from the sorted labels: drizzle, fog, rain, snow, sun (--classes sets another)');
  });

  it('label and run feed a teacher given as a file the raw rows: the store label writes is the one the run reuses', async () => {
    const splits = await loadWeather();
    const teacherDir = join(dir, 'raw-teacher');
    await saveModel(buildModel('mlp:8', { inputShape: [4], numClasses: 5, seed: 7 }), teacherDir);
    const store = join(dir, 'cli-weather.sl');
    const data = ['--data', `csv:${WEATHER[0]}`, '--test-data', `csv:${WEATHER[1]}`, ...WEATHER_FLAGS, '--teacher', teacherDir];
    const labelled = runCli(['label', ...data, '--soft-labels', store, '--workers', '2']);
    expect(labelled.status, labelled.stderr).toBe(0);
    const out = join(dir, 'reuse-run');
    const run = runCli([
      'run',
      ...data,
      '--soft-labels',
      store,
      '--student-arch',
      'mlp:4',
      '--epochs',
      '1',
      '--workers',
      '2',
      '--allow-weak-teacher', // an untrained teacher, near chance by design
      '--out',
      out,
    ]);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.softLabels.reused).toBe(true);
    expect(report.teacher.accuracy).toBe(accuracyOn(await loadModel(teacherDir), teacherSplits(splits).test));
  });

  it('bad tables and settings: one line naming the flag', async () => {
    const fails = async (...args: string[]) => {
      const result = await runCliAsync(['run', ...args, '--out', join(dir, 'never')]);
      expect(result.status).toBe(1);
      return result.stderr.trim().split('\n').at(-1);
    };
    // The four commands fail in their set-up: they run side by side.
    const [penguins, rain, features, labelField] = await Promise.all([
      fails('--data', `csv:${PENGUINS}`),
      fails('--data', `csv:${WEATHER[0]}`, '--label-field', 'weather', '--features', 'wind,rain'),
      fails('--data', 'mnist', '--features', 'a,b'),
      fails('--data', 'mnist', '--label-field', 'y'),
    ]);
    expect(penguins).toMatch(
      /^tfjs-distill: error: .*penguins\.csv line 2, column 'Island': 'Torgersen' is not a number; .*: leave the column out of --features \(without --features, every column but the label is one\) or fix the cell$/,
    );
    expect(rain).toMatch(
      /^tfjs-distill: error: .*weather-train\.csv has no column 'rain' \(its columns: date, precipitation, temp_max, temp_min, wind, weather\); fix --features$/,
    );
    expect(features).toBe('tfjs-distill: error: --features applies to --data csv:FILE only');
    expect(labelField).toBe('tfjs-distill: error: --label-field applies to --data csv:FILE and text:FILE only');
  });
});
