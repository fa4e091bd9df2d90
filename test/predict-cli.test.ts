import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudent } from '../dist/student/index.js';
import { runCli } from './helpers/cli.js';
import { asPixels, writeDigitsStudent, writeSpamStudent } from './helpers/student-folder.js';
import { digitRows } from './helpers/digits.js';

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

/** The one line a failed command prints, and that it wrote nothing where --out pointed. */
async function expectOneLineError(args: string[], message: RegExp) {
  const out = join(dir, `never-${Math.random().toString(36).slice(2)}.jsonl`);
  const result = runCli([...args, '--out', out], { cwd: ROOT });
  expect(result.status).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(message);
  expect((await readdir(dir)).filter((name) => name.startsWith('never-'))).toEqual([]);
}

describe('tfjs-distill predict', () => {
  it('writes one JSONL line a row (row, label, probabilities) and the accuracy of the labelled rows', async () => {
    const out = join(dir, 'digits.jsonl');
    const result = runCli(['predict', digits, '--data', 'mnist', '--limit', '50', '--backend', 'cpu', '--out', out], { cwd: ROOT });
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

  it('writes to stdout without --out, reads a text file with the fields the student was trained on', () => {
    const result = runCli(['predict', spam, '--data', 'text:test/fixtures/text/spam.jsonl', '--limit', '5', '--model', 'uint8'], {
      cwd: ROOT,
    });
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(['ham', 'spam']).toContain(JSON.parse(line).label);
    expect(result.stderr).toMatch(/^accuracy \d+\.\d\d% \(\d+ of 5 labelled rows\)\n$/);
  });
});

describe('tfjs-distill predict: bad input, one line each, nothing written', () => {
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
    await expectOneLineError(
      ['predict', spam, '--data', `text:${file}`],
      /line 1 has no field 'text' \(its fields: body, label\); the student reads its texts from 'text' \(textField in preprocessing\.json\): give rows with that field/,
    );
    await expectOneLineError(
      ['predict', spam, '--data', 'mnist'],
      /the student takes texts, but --data mnist is not text:FILE; give text:FILE/,
    );
    await expectOneLineError(['predict', digits, '--data', `text:${file}`], /the student takes image rows, but --data text:\S+ is text/);
  });

  it('an unknown variant, and no student folder', async () => {
    await expectOneLineError(
      ['predict', digits, '--model', 'int4'],
      /model 'int4' is not float32, uint8, uint16, float16 or a model\.json path/,
    );
    await expectOneLineError(['predict', '--data', 'mnist'], /predict needs one student folder \(or model\.json\)/);
  });
});
