import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudent } from '../dist/student/index.js';
import { type CliResult, runCliAsync } from './helpers/cli.js';
import { asPixels, writeDigitsStudent, writeSpamStudent } from './helpers/student-folder.js';
import { digitRows } from './helpers/digits.js';
import { npy } from './helpers/npy-writer.js';

const ROOT = new URL('..', import.meta.url).pathname;

let dir: string;
let digits: string;
let spam: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-predict-'));
  digits = join(dir, 'digits');
  spam = join(dir, 'spam');
  await writeDigitsStudent(digits, 50);
  await writeSpamStudent(spam);
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * The CLI from the repository root, without blocking: the commands here are short and mostly load modules on
 * one core, so independent ones run side by side.
 */
const predict = (...args: string[]) => runCliAsync(['predict', ...args], { cwd: ROOT });

/** The one line a failed command prints, and that it wrote nothing where --out pointed. */
async function expectOneLineError(args: string[], message: RegExp) {
  const out = join(dir, `never-${Math.random().toString(36).slice(2)}.jsonl`);
  const result = await runCliAsync([...args, '--out', out], { cwd: ROOT });
  expect(result.status).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(message);
  expect((await readdir(dir)).filter((name) => name.startsWith('never-'))).toEqual([]);
}

describe.concurrent('tfjs-distill predict', () => {
  it('writes one JSONL line a row (row, label, probabilities) and the accuracy of the labelled rows', async () => {
    const out = join(dir, 'digits.jsonl');
    const result = await predict(digits, '--data', 'mnist', '--limit', '50', '--backend', 'cpu', '--out', out);
    expect(result.status, result.stderr).toBe(0);
    const lines = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.row)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // The entry point's answers on the same digits (the test split, as pixels).
    const student = await loadStudent(digits);
    const test = asPixels((await digitRows(0, 50)).test);
    const expected = student.predict(Array.from({ length: 50 }, (_, row) => test.x.subarray(row * 784, (row + 1) * 784)));
    lines.forEach((line, row) => {
      expect(Object.keys(line)).toEqual(['row', 'label', 'probabilities']);
      expect(line.label).toBe(expected[row].label);
      line.probabilities.forEach((p: number, c: number) => expect(p).toBeCloseTo(expected[row].probabilities[c], 6));
    });
    const correct = expected.filter((p, row) => p.index === test.y[row]).length;
    expect(result.stdout).toBe(
      `wrote 50 predictions to ${out}; accuracy ${((100 * correct) / 50).toFixed(2)}% (${correct} of 50 labelled rows)\n`,
    );
  });

  it('writes to stdout without --out, reads a text file with the fields the student was trained on', async () => {
    const result = await predict(spam, '--data', 'text:test/fixtures/text/spam.jsonl', '--limit', '5', '--model', 'uint8');
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(['ham', 'spam']).toContain(JSON.parse(line).label);
    expect(result.stderr).toMatch(/^accuracy \d+\.\d\d% \(\d+ of 5 labelled rows\)\n$/);
  });
});

const TABLES = join(ROOT, 'test', 'fixtures', 'tabular');
const PENGUIN_FEATURES = 'Beak Length (mm),Beak Depth (mm),Flipper Length (mm),Body Mass (g)';

/** A run's student/ folder and report, trained briefly on `data` (and tested on `testData`). */
async function runStudent(out: string, ...flags: string[]) {
  const run = await runCliAsync(
    [
      'run',
      ...flags,
      '--teacher',
      'mlp:16',
      '--teacher-epochs',
      '3',
      '--allow-weak-teacher', // a briefly trained teacher: these tests are about predict, not distillation
      '--student-arch',
      'mlp:8',
      '--epochs',
      '5',
      '--workers',
      '1',
      '--out',
      out,
    ],
    { cwd: ROOT },
  );
  expect(run.status, run.stderr).toBe(0);
  return join(out, 'student');
}

/** The accuracy line predict prints with --out, for the run's student accuracy over `rows` test rows. */
async function expectReportAccuracy(result: CliResult, out: string, rows: number, runDir: string) {
  expect(result.status, result.stderr).toBe(0);
  const { student } = JSON.parse(await readFile(join(runDir, 'report.json'), 'utf8'));
  const correct = Math.round(student.accuracy * rows);
  expect(result.stdout).toBe(
    `wrote ${rows} predictions to ${out}; accuracy ${(student.accuracy * 100).toFixed(2)}% (${correct} of ${rows} labelled rows)\n`,
  );
}

// Side by side: each case trains a one-worker run or predicts, and one at a time they leave a core idle.
describe.concurrent('tfjs-distill predict on tables, headerless CSV, NPY and IDX', () => {
  it("a table student reads a CSV by the folder's columns, standardised by the folder's contract, missing cells included", async () => {
    // Penguins: two rows have no measurement at all, one falls in each split; the test rows are a fifth of the file.
    const [header, ...lines] = (await readFile(join(TABLES, 'penguins.csv'), 'utf8')).trim().split('\n');
    const train = join(dir, 'penguins-train.csv');
    const test = join(dir, 'penguins-test.csv');
    await writeFile(train, [header, ...lines.filter((_, row) => row % 5 !== 4)].join('\n'));
    await writeFile(test, [header, ...lines.filter((_, row) => row % 5 === 4)].join('\n'));
    const runDir = join(dir, 'penguins-run');
    const student = await runStudent(runDir, '--data', `csv:${train}`, '--test-data', `csv:${test}`, '--features', PENGUIN_FEATURES);
    const contract = JSON.parse(await readFile(join(student, 'preprocessing.json'), 'utf8'));
    expect(contract.missing).toBe('mean-and-indicator');
    expect(contract.indicators.length).toBeGreaterThan(0);
    // The columns in another order, the label column (Species, the first) found by name as run found it.
    const reordered = join(dir, 'penguins-reordered.csv');
    const cells = [header, ...lines.filter((_, row) => row % 5 === 4)].map((line) => line.split(','));
    await writeFile(reordered, cells.map((row) => [...row.slice(1).reverse(), row[0]].join(',')).join('\n'));
    const out = join(dir, 'penguins.jsonl');
    const rows = cells.length - 1;
    const unlabelled = join(dir, 'penguins-unlabelled.csv');
    await writeFile(unlabelled, cells.map((row) => row.slice(2, 6).join(',')).join('\n'));
    // A column the student takes is missing; a file without a header.
    await writeFile(join(dir, 'no-mass.csv'), cells.map((row) => row.slice(0, 5).join(',')).join('\n'));
    await writeFile(join(dir, 'numbers.csv'), '0,1,2,3,4\n1,2,3,4,5\n');
    const [result, alone, bare] = await Promise.all([
      predict(student, '--data', `csv:${reordered}`, '--label-field', 'Species', '--out', out),
      predict(student, '--data', `csv:${test}`, '--label-field', 'Species'),
      predict(student, '--data', `csv:${unlabelled}`),
      expectOneLineError(
        ['predict', student, '--data', `csv:${join(dir, 'no-mass.csv')}`],
        /no-mass\.csv has no column 'Body Mass \(g\)', which the student takes \(preprocessing\.json columns: Beak Length \(mm\), Beak Depth \(mm\), Flipper Length \(mm\), Body Mass \(g\)\); give a file with every one of them\n/,
      ),
      expectOneLineError(
        ['predict', student, '--data', `csv:${join(dir, 'numbers.csv')}`],
        /numbers\.csv has no header row, but the student takes the columns/,
      ),
    ]);
    await expectReportAccuracy(result, out, rows, runDir);
    // The folder's means, not the file's: predicting the test rows alone gives the same answers as a file of them all.
    expect(alone.status, alone.stderr).toBe(0);
    expect(alone.stdout).toBe(await readFile(out, 'utf8'));
    // Without a label column the rows are predicted, unlabelled.
    expect(bare.status, bare.stderr).toBe(0);
    expect(bare.stderr).toBe(`${rows} rows predicted (none labelled)\n`);
  }, 120_000);

  it('a vector student reads a headerless CSV and the same rows as NPY in file order', async () => {
    const table = async (name: string) =>
      (await readFile(join(TABLES, name), 'utf8'))
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.split(','));
    const classes = ['drizzle', 'fog', 'rain', 'snow', 'sun'];
    const headerless = (rows: string[][]) => rows.map((cells) => [classes.indexOf(cells[5]), ...cells.slice(1, 5)].join(',')).join('\n');
    const [trainRows, testRows] = [await table('weather-train.csv'), await table('weather-test.csv')];
    await writeFile(join(dir, 'w-train.csv'), headerless(trainRows));
    await writeFile(join(dir, 'w-test.csv'), headerless(testRows));
    const runDir = join(dir, 'vector-run');
    const student = await runStudent(runDir, '--data', `csv:${join(dir, 'w-train.csv')}`, '--test-data', `csv:${join(dir, 'w-test.csv')}`);
    expect(JSON.parse(await readFile(join(student, 'preprocessing.json'), 'utf8')).kind).toBe('vector');
    const csvOut = join(dir, 'vector-csv.jsonl');
    const x = Float32Array.from(testRows.flatMap((cells) => cells.slice(1, 5).map(Number)));
    const y = Int32Array.from(testRows, (cells) => classes.indexOf(cells[5]));
    await writeFile(join(dir, 'x.npy'), npy(x, [testRows.length, 4]));
    await writeFile(join(dir, 'y.npy'), npy(y, [testRows.length]));
    const npyOut = join(dir, 'vector-npy.jsonl');
    const [fromCsv, fromNpy] = await Promise.all([
      predict(student, '--data', `csv:${join(dir, 'w-test.csv')}`, '--out', csvOut),
      predict(student, '--data', `npy:${join(dir, 'x.npy')},${join(dir, 'y.npy')}`, '--out', npyOut),
    ]);
    await expectReportAccuracy(fromCsv, csvOut, testRows.length, runDir);
    await expectReportAccuracy(fromNpy, npyOut, testRows.length, runDir);
    expect(await readFile(npyOut, 'utf8')).toBe(await readFile(csvOut, 'utf8'));
  }, 120_000);

  it('an image student reads IDX files (their test split) as it reads the same digits from mnist', async () => {
    const { test } = await digitRows(0, 50);
    const pixels = asPixels(test);
    const idxFile = (magic: number, dims: number[], data: Uint8Array) => {
      const head = Buffer.alloc(4 + 4 * dims.length);
      head.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
      return Buffer.concat([head, Buffer.from(data)]);
    };
    const idxDir = join(dir, 'idx');
    await mkdir(idxDir);
    const images = idxFile(0x803, [50, 28, 28], pixels.x as Uint8Array);
    const labels = idxFile(0x801, [50], Uint8Array.from(test.y));
    for (const split of ['train', 't10k']) {
      await writeFile(join(idxDir, `${split}-images-idx3-ubyte`), images);
      await writeFile(join(idxDir, `${split}-labels-idx1-ubyte`), labels);
    }
    const [fromIdx, fromMnist] = await Promise.all([
      predict(digits, '--data', `idx:${idxDir}`, '--backend', 'cpu'),
      predict(digits, '--data', 'mnist', '--limit', '50', '--backend', 'cpu'),
    ]);
    expect(fromIdx.status, fromIdx.stderr).toBe(0);
    expect(fromIdx.stdout).toBe(fromMnist.stdout);
    expect(fromIdx.stderr).toBe(fromMnist.stderr);
  });
});

describe.concurrent('tfjs-distill predict: bad input, one line each, nothing written', () => {
  it('a folder without preprocessing.json', async () => {
    const bare = join(dir, 'bare');
    await cp(digits, bare, { recursive: true });
    await rm(join(bare, 'preprocessing.json'));
    await expectOneLineError(
      ['predict', bare, '--data', 'mnist'],
      /^tfjs-distill: error: \S+bare\/ has no preprocessing\.json, so its inputs cannot be prepared; give the student\/ folder of a run that wrote one/,
    );
  });

  it('images of another size than the student takes', async () => {
    const big = join(dir, 'big');
    await cp(digits, big, { recursive: true });
    const contract = JSON.parse(await readFile(join(big, 'preprocessing.json'), 'utf8'));
    await writeFile(join(big, 'preprocessing.json'), JSON.stringify({ ...contract, height: 32, width: 32, inputShape: [32, 32] }));
    await expectOneLineError(
      ['predict', big, '--data', 'mnist'],
      /error: --data mnist has 28x28x1 images, but the student takes 32x32x1; give images of that size \(images:DIR resizes them\)/,
    );
  });

  it('a text file without the field the student reads, and rows of the wrong kind', async () => {
    const file = join(dir, 'bodies.jsonl');
    await writeFile(file, '{"body": "hello there", "label": "ham"}\n');
    await Promise.all([
      expectOneLineError(
        ['predict', spam, '--data', `text:${file}`],
        /line 1 has no field 'text' \(its fields: body, label\); the student reads its texts from 'text' \(textField in preprocessing\.json\): give rows with that field/,
      ),
      expectOneLineError(
        ['predict', spam, '--data', 'mnist'],
        /the student takes texts, but --data mnist is not text:FILE; give text:FILE/,
      ),
      expectOneLineError(['predict', digits, '--data', `text:${file}`], /the student takes image rows, but --data text:\S+ is text/),
    ]);
  });

  it('an unknown variant, and no student folder', async () => {
    await Promise.all([
      expectOneLineError(
        ['predict', digits, '--model', 'int4'],
        /model 'int4' is not float32, uint8, uint16, float16 or a model\.json path/,
      ),
      expectOneLineError(['predict', '--data', 'mnist'], /predict needs one student folder \(or model\.json\)/),
    ]);
  });
});
