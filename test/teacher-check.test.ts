import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, DistillError, buildModel, classificationScores, distill } from '../dist/index.js';
import { runCli, runCliAsync } from './helpers/cli.js';
import { digitRows } from './helpers/digits.js';
import { npy } from './helpers/npy-writer.js';

const FASHION = '/usr/share/datasets/fashion-mnist';
const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

describe('per-class scores', () => {
  it("equal scikit-learn's precision_recall_fscore_support and f1_score(average='macro', zero_division=0)", () => {
    // Class 3 is never predicted, class 4 neither occurs nor is predicted (and stays out of the macro mean).
    const labels = Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2, 2, 3]);
    const predictions = Int32Array.from([0, 1, 0, 1, 1, 2, 0, 2, 0, 0]);
    const scores = classificationScores(predictions, labels, 5);
    // The figures scikit-learn 1.2 printed for these arrays.
    const expected = [
      [0.4, 2 / 3, 0.5, 3, 5],
      [2 / 3, 1, 0.8, 2, 3],
      [1, 0.5, 2 / 3, 4, 2],
      [0, 0, 0, 1, 0],
      [0, 0, 0, 0, 0],
    ];
    scores.perClass.forEach((s, c) => {
      const [precision, recall, f1, support, predicted] = expected[c];
      expect(s.precision).toBeCloseTo(precision, 12);
      expect(s.recall).toBeCloseTo(recall, 12);
      expect(s.f1).toBeCloseTo(f1, 12);
      expect([s.support, s.predicted]).toEqual([support, predicted]);
    });
    expect(scores.macroF1).toBeCloseTo(0.4916666666666667, 12);
  });
});

describe('a teacher at chance', () => {
  let dir: string;
  let digitsTeacher: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'teacher-check-'));
    // A digits teacher, trained quickly and saved, as a user would have it.
    const digits = join(dir, 'digits');
    const trained = runCli(
      [
        'run',
        ...['--data', 'mnist', '--limit', '1500', '--teacher-arch', 'mlp:64', '--teacher-epochs', '3'],
        ...['--student-arch', 'mlp:16', '--epochs', '1', '--workers', '2', '--out', digits],
      ],
      {},
    );
    expect(trained.status, trained.stderr).toBe(0);
    digitsTeacher = join(digits, 'teacher');
    const report = JSON.parse(await readFile(join(digits, 'report.json'), 'utf8'));
    // Its own digits pass the check: the accuracy it reached on them, far above the threshold.
    expect(report.teacherCheck).toMatchObject({ rows: 1500, nearChance: false });
    expect(report.teacherCheck.trainAccuracy).toBeGreaterThan(0.75);
    expect(report.teacherCheck.chance).toBeGreaterThanOrEqual(0.1);
    expect(report.teacherCheck.chance).toBeLessThan(0.15);
    expect(report.warnings).toEqual([]);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const fashionRun = (out: string, ...extra: string[]) =>
    runCliAsync([
      'run',
      ...['--data', `idx:${FASHION}`, '--limit', '1000', '--teacher', digitsTeacher, '--student-arch', 'mlp:16'],
      ...['--epochs', '2', '--baseline', '--workers', '2', '--out', out, ...extra],
    ]);

  // The two Fashion-MNIST runs are independent: side by side, one's start-up overlaps the other's training.
  it.concurrent('stops a digits teacher given Fashion-MNIST with one line naming the causes and --allow-weak-teacher; writes nothing', async () => {
    const out = join(dir, 'fashion-stopped');
    const result = await fashionRun(out);
    expect(result.status).toBe(1);
    expect(lastLine(result.stderr)).toMatch(
      /^tfjs-distill: error: the teacher's top classes match \d+\.\d% of the 1000 labelled training rows, near chance \(1\d\.\d%; near means below 2\d\.\d%\): the data, the class order, the tokenizer or the preprocessing almost surely do not match the teacher's; set --allow-weak-teacher to distil it anyway$/,
    );
    expect(existsSync(join(out, 'report.json'))).toBe(false);
    expect(existsSync(join(out, 'student'))).toBe(false);
  });

  it.concurrent('distils it with --allow-weak-teacher, and warns in the summary, report.json and report.html', async () => {
    const out = join(dir, 'fashion-allowed');
    const result = await fashionRun(out, '--allow-weak-teacher');
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.config.allowWeakTeacher).toBe(true);
    expect(report.teacherCheck.nearChance).toBe(true);
    expect(report.teacherCheck.trainAccuracy).toBeLessThan(report.teacherCheck.threshold);
    // Near chance, and well below the baseline on the test rows (the run has no validation split).
    expect(report.warnings).toHaveLength(2);
    expect(report.warnings[0]).toMatch(
      /^the teacher's top classes match .* near chance .*; distilled anyway, as the weak-teacher override asked$/,
    );
    expect(report.warnings[1]).toMatch(/^the teacher is well below the baseline on the test rows \(\d+\.\d% against \d+\.\d%\)/);
    for (const warning of report.warnings) expect(result.stdout).toContain(`warning: ${warning}`);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<ul class="warnings">');
    expect(html).toContain('distilled anyway, as the weak-teacher override asked');
  });

  it('stops the library run when the class order is not the teacher’s (the digits labels shifted by one)', async () => {
    const { train, test } = await digitRows(400, 100);
    const shifted: Dataset = { ...train, y: Int32Array.from(train.y, (y) => (y + 1) % 10) };
    const run = distill({
      teacher: digitsTeacher,
      student: buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10, seed: 1 }),
      train: shifted,
      test,
      epochs: 1,
      workers: 1,
    });
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DistillError);
    expect((error as DistillError).options).toEqual(['allowWeakTeacher']);
    expect((error as Error).message).toMatch(/near chance.*the class order.*set allowWeakTeacher to distil it anyway$/);
  });

  it('warns about a teacher well below the baseline on the validation rows; its check counts every labelled row', async () => {
    const { train, test } = await digitRows(600, 200);
    // Imported logits that are right on a seeded 45% of the rows and name a random class elsewhere.
    let state = 5;
    const random = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    const logits = (labels: Int32Array) => {
      const values = new Float32Array(labels.length * 10);
      labels.forEach((y, row) => {
        values[row * 10 + (random() < 0.45 ? y : Math.floor(random() * 10))] = 5;
      });
      return values;
    };
    const trainLogits = logits(train.y);
    await writeFile(join(dir, 'train.npy'), npy(trainLogits, [600, 10]));
    await writeFile(join(dir, 'test.npy'), npy(logits(test.y), [200, 10]));
    let hits = 0;
    train.y.forEach((y, row) => {
      if (trainLogits[row * 10 + y] === 5) hits++;
    });
    const { report } = await distill({
      teacherLogits: join(dir, 'train.npy'),
      teacherTestLogits: join(dir, 'test.npy'),
      student: buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 1 }),
      train,
      test,
      epochs: 6,
      validation: 100,
      baseline: true,
      optimizer: { name: 'adam', learningRate: 0.003 },
      workers: 1,
    });
    expect(report.teacherCheck!.trainAccuracy).toBe(hits / 600);
    expect(report.teacherCheck!.nearChance).toBe(false);
    const teacherOnValidation = report.teacherCheck!.validationAccuracy!;
    expect(teacherOnValidation).toBeGreaterThan(0.3);
    expect(teacherOnValidation).toBeLessThan(0.65);
    expect(report.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^the teacher is well below the baseline on the validation rows \\(${(100 * teacherOnValidation).toFixed(1)}% against \\d+\\.\\d%\\)`,
        ),
      ),
    ]);
  });
});
