import * as tf from '@tensorflow/tfjs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleStudent } from '../scripts/bundle-student.mjs';
import { browserSafetyViolations } from '../scripts/check-layers.mjs';
import { serveStatic } from '../scripts/serve-static.mjs';
import { loadDataSource } from '../dist/data/data-source.js';
import type { Dataset } from '../dist/data/dataset.js';
import type { TableContract } from '../dist/data/input-contract.js';
import { DistillError } from '../dist/errors.js';
import { buildModel } from '../dist/models/architectures.js';
import { loadModel, saveModel } from '../dist/models/model-files.js';
import { loadStudent } from '../dist/student/index.js';
import { SPAM_JSONL, TEXT_MAX_LENGTH, writeDigitsStudent, writeSpamStudent } from './helpers/student-folder.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

const ROOT = new URL('..', import.meta.url).pathname;

let dir: string;
let digits: string;
let digitsTest: Dataset;
let spam: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-student-'));
  digits = join(dir, 'digits/student');
  spam = join(dir, 'spam/student');
  digitsTest = await writeDigitsStudent(digits, 200);
  await writeSpamStudent(spam);
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pixelsOf = (data: Dataset, row: number) => data.x.subarray(row * 784, (row + 1) * 784);

describe('tfjs-distill/student is browser-safe and small', () => {
  it('bundles for the browser with esbuild, importing nothing but @tensorflow/tfjs', async () => {
    const bundle = await bundleStudent();
    expect(bundle.imports).toEqual(['@tensorflow/tfjs']);
    expect(bundle.inputs.filter((input: string) => /^node:|piscina|onnxruntime|tfjs-node/.test(input))).toEqual([]);
    expect(new TextDecoder().decode(bundle.code)).not.toMatch(/\brequire\(|from\s*"node:|import\("node:/);
    // docs/shipping.md states the size; this bound keeps it from growing unnoticed.
    expect(bundle.gzipBytes).toBeLessThan(24_000);
  });

  it('check-layers follows every import of student/ and finds nothing of Node', async () => {
    expect(browserSafetyViolations(join(ROOT, 'src'))).toEqual([]);
    // A Node import two files away is found; a type-only import of such a file is not one.
    const src = join(dir, 'layers-src');
    await mkdir(join(src, 'student'), { recursive: true });
    await mkdir(join(src, 'data'), { recursive: true });
    await writeFile(join(src, 'student/entry.ts'), "import type { T } from '../data/typed.js';\nimport { b } from '../data/b.js';\n");
    await writeFile(join(src, 'data/b.ts'), "export { c as b } from './c.js';\n");
    await writeFile(join(src, 'data/c.ts'), "import { readFile } from 'node:fs/promises';\nexport const c = readFile;\n");
    await writeFile(join(src, 'data/typed.ts'), "import { Piscina } from 'piscina';\nexport type T = Piscina;\n");
    expect(browserSafetyViolations(src)).toEqual([
      'data/c.ts: imports node:fs/promises, which browsers lack (loaded by student/ -> student/entry.ts -> data/b.ts; student/ must run in browsers)',
    ]);
  });

  it('package.json exports it as tfjs-distill/student', async () => {
    const { exports } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    expect(exports['./student']).toEqual({ types: './dist/student/index.d.ts', import: './dist/student/index.js' });
  });
});

describe('loadStudent on an image student', () => {
  it('predicts what the model computes on rows scaled as the contract says, labels from classes.json', async () => {
    const student = await loadStudent(digits);
    const rows = 50;
    const inputs = Array.from({ length: rows }, (_, row) => pixelsOf(digitsTest, row));
    const predictions = student.predict(inputs);
    const model = await loadModel(digits);
    const scaled = Float32Array.from(digitsTest.x.subarray(0, rows * 784), (v) => v / 255);
    const expected = tf.tidy(() => tf.softmax(model.predict(tf.tensor(scaled, [rows, 28, 28])) as tf.Tensor).arraySync()) as number[][];
    predictions.forEach((prediction, row) => {
      expect(prediction.probabilities).toHaveLength(10);
      prediction.probabilities.forEach((p, c) => expect(p).toBeCloseTo(expected[row][c], 6));
      expect(prediction.label).toBe(String(prediction.index));
      expect(prediction.index).toBe(expected[row].indexOf(Math.max(...expected[row])));
    });
    const correct = predictions.filter((p, row) => p.index === digitsTest.y[row]).length;
    expect(correct / rows).toBeGreaterThan(0.7);
    // predictRows takes prepared rows and gives the same answers.
    expect(student.predictRows(scaled, rows)).toEqual(predictions);
    student.dispose();
    model.dispose();
  });

  it('reads the uint8 variant, by name, from its subfolder; a model.json path works too', async () => {
    const float32 = await loadStudent(digits);
    const uint8 = await loadStudent(digits, { model: 'uint8' });
    const viaPath = await loadStudent(join(digits, 'uint8/model.json'));
    const inputs = Array.from({ length: 100 }, (_, row) => pixelsOf(digitsTest, row));
    const [a, b, c] = [float32, uint8, viaPath].map((student) => student.predict(inputs));
    expect(c).toEqual(b);
    const agreement = a.filter((p, row) => p.index === b[row].index).length / inputs.length;
    expect(agreement).toBeGreaterThanOrEqual(0.95);
    expect(b.some((p, row) => p.probabilities[0] !== a[row].probabilities[0])).toBe(true); // really another model
  });

  it('reads a folder by file: URL and over HTTP, and classes.json from the parent (the old place)', async () => {
    const old = join(dir, 'old-layout/student');
    await cp(digits, old, { recursive: true });
    await rm(join(old, 'classes.json'));
    const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    await writeFile(join(old, '..', 'classes.json'), JSON.stringify(names));
    const { server, url } = await serveStatic({ '/': join(dir, 'old-layout') });
    try {
      const byPath = (await loadStudent(old)).predict([pixelsOf(digitsTest, 0)]);
      const byFileUrl = (await loadStudent(pathToFileURL(old).href)).predict([pixelsOf(digitsTest, 0)]);
      const byHttp = (await loadStudent(`${url}student/`)).predict([pixelsOf(digitsTest, 0)]);
      expect(byFileUrl).toEqual(byPath);
      expect(byHttp).toEqual(byPath);
      expect(byPath[0].label).toBe(names[byPath[0].index]);
    } finally {
      server.close();
    }
  });

  it('refuses a folder without preprocessing.json, and images of the wrong size, in one line each', async () => {
    const bare = join(dir, 'bare');
    await saveModel(buildModel('mlp:4', { inputShape: [28, 28], numClasses: 10, seed: 1 }), bare);
    await expect(loadStudent(bare)).rejects.toThrow(
      /has no preprocessing\.json, so its inputs cannot be prepared; give the student\/ folder/,
    );
    const student = await loadStudent(digits);
    expect(() => student.predict([new Uint8Array(32 * 32)])).toThrow(DistillError);
    expect(() => student.predict([new Uint8Array(32 * 32)])).toThrow(
      /input 0 has 1024 pixel values, but the student takes 28x28x1 = 784; give images of that size/,
    );
    const canvas = { data: new Uint8ClampedArray(20 * 20 * 4), width: 20, height: 20 };
    expect(() => student.predict([canvas])).toThrow(/input 0 is a 20x20 image, but the student takes 28x28; resize it first/);
    await expect(loadStudent(digits, { model: 'int4' })).rejects.toThrow(/model 'int4' is not float32, uint8, uint16, float16/);
  });

  it('takes a canvas ImageData: RGBA pixels, grey by luma', async () => {
    const student = await loadStudent(digits);
    const pixels = pixelsOf(digitsTest, 3);
    const rgba = new Uint8ClampedArray(784 * 4);
    pixels.forEach((v, i) => rgba.set([v, v, v, 255], 4 * i));
    expect(student.predict([{ data: rgba, width: 28, height: 28 }])).toEqual(student.predict([pixels]));
  });
});

describe('loadStudent on a text student', () => {
  it('makes the token ids training made, for every row of the file', async () => {
    const student = await loadStudent(spam);
    // The file as its own test split: every row, in file order, tokenised by the training pipeline.
    const whole = await loadDataSource({
      source: `text:${SPAM_JSONL}`,
      testSource: `text:${SPAM_JSONL}`,
      tokenizer: TOKENIZER_DIRS.unigram,
      maxLength: TEXT_MAX_LENGTH,
      testFraction: 0.2,
      seed: 1,
      workers: 1,
    });
    const lines = (await readFile(join(ROOT, SPAM_JSONL), 'utf8')).trim().split('\n');
    expect(whole.test.shape[0]).toBe(lines.length);
    lines.forEach((line, row) => {
      const prepared = student.prepare(JSON.parse(line).text);
      expect(Array.from(prepared)).toEqual(Array.from(whole.test.x.subarray(row * TEXT_MAX_LENGTH, (row + 1) * TEXT_MAX_LENGTH)));
    });
    const texts = lines.slice(0, 40).map((line) => JSON.parse(line).text);
    const predictions = student.predict(texts);
    const rows = Float32Array.from(whole.test.x.subarray(0, 40 * TEXT_MAX_LENGTH));
    expect(student.predictRows(rows, 40)).toEqual(predictions);
    expect(predictions.every((p) => ['ham', 'spam'][p.index] === p.label)).toBe(true);
  });

  it('refuses a row without text, and tokenizer files that do not match the contract', async () => {
    const student = await loadStudent(spam);
    expect(() => student.predict([{ body: 'hello' } as never])).toThrow(/input 0 has no text; give a string or \{ text \}/);
    const other = join(dir, 'spam-wrong-pad');
    await cp(spam, other, { recursive: true });
    const contract = JSON.parse(await readFile(join(other, 'preprocessing.json'), 'utf8'));
    await writeFile(join(other, 'preprocessing.json'), JSON.stringify({ ...contract, tokenizerPadId: contract.tokenizerPadId + 1 }));
    await expect(loadStudent(other)).rejects.toThrow(/pads with id \d+, but the student was trained with \d+; copy the tokenizer files/);
  });
});

describe('loadStudent on a table student', () => {
  const contract: TableContract = {
    format: 'tfjs-distill/preprocessing',
    version: 1,
    kind: 'table',
    inputShape: [4],
    columns: ['precipitation', 'temp_max', 'temp_min'],
    mean: [3, 16, 8],
    std: [6, 7, 5],
    missing: 'mean-and-indicator',
    indicators: ['precipitation'],
  };
  let table: string;

  beforeAll(async () => {
    table = join(dir, 'table');
    await saveModel(buildModel('mlp:8', { inputShape: [4], numClasses: 3, seed: 2 }), table);
    await writeFile(join(table, 'preprocessing.json'), JSON.stringify(contract));
    await writeFile(join(table, 'classes.json'), JSON.stringify(['rain', 'snow', 'sun']));
  });

  it('standardises the columns by name and marks a missing cell with its indicator', async () => {
    const student = await loadStudent(table);
    expect(Array.from(student.prepare({ temp_min: 3, precipitation: '9', temp_max: 23 }))).toEqual([1, 1, -1, 0]);
    expect(Array.from(student.prepare({ temp_min: 8, precipitation: 'NA', temp_max: 16 }))).toEqual([0, 0, 0, 1]);
    const [prediction] = student.predict([{ precipitation: 0, temp_max: 20, temp_min: 10 }]);
    expect(['rain', 'snow', 'sun']).toContain(prediction.label);
    expect(prediction.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('refuses a row without a column, and a cell that is not a number', async () => {
    const student = await loadStudent(table);
    expect(() => student.predict([{ precipitation: 1, temp_max: 2 }])).toThrow(
      /input 0 has no column 'temp_min'; give every column the student takes: precipitation, temp_max, temp_min/,
    );
    expect(() => student.predict([{ precipitation: 1, temp_max: 'warm', temp_min: 2 }])).toThrow(/'temp_max' is "warm", not a number/);
  });
});
