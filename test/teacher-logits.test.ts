import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { npy } from './helpers/npy-writer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { type Dataset, takeRows } from '../dist/data/dataset.js';
import { LogitTable } from '../dist/data/logit-table.js';
import { loadMnist } from '../dist/data/mnist.js';
import { readSoftLabels } from '../dist/data/soft-label-store.js';
import { distill } from '../dist/distill/distill.js';
import { classificationScores } from '../dist/infer/class-scores.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData } from '../dist/models/model-data.js';

describe('teacher logits computed elsewhere (teacherLogits)', () => {
  let dir: string;
  let train: Dataset;
  let test: Dataset;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'teacher-logits-'));
    const digits = await loadMnist();
    train = takeRows(digits.train, 600);
    test = takeRows(digits.test, 200);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const student = () => buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10, seed: 4 });
  // The teacher is untrained (its logits are at chance): what is on trial is where they come from.
  const common = { epochs: 2, workers: 2, batchSize: 64, labeled: 100, baseline: true, allowWeakTeacher: true };

  it('replace teacher inference: the same logits give the same student, bit for bit', async () => {
    const teacher = buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 3 });
    const store = join(dir, 'teacher.sl');
    const first = await distill({ teacher, student: student(), train, test, softLabels: store, ...common });
    // The exact logits the pool computed, exported as NumPy would hold them.
    const table = LogitTable.create(600, 10);
    const { key } = JSON.parse((await readFile(store)).subarray(12, 12 + (await readFile(store)).readUInt32LE(8)).toString());
    expect((await readSoftLabels(store, table, key, { kind: 'float32' })).ok).toBe(true);
    await writeFile(join(dir, 'train.npy'), npy(Float64Array.from(table.values), [600, 10])); // float64 is accepted too
    const imported = await distill({ student: student(), train, test, teacherLogits: join(dir, 'train.npy'), ...common });
    expect(new Float32Array((await modelToData(imported.student)).weights)).toEqual(
      new Float32Array((await modelToData(first.student)).weights),
    );
    expect(imported.teacher).toBeUndefined();
    expect(imported.report.teacher).toBeNull(); // not evaluated: no model, no test logits
    expect(imported.report.student.agreement).toBeNull();
    expect(imported.report.softLabels.importedFrom).toBe(join(dir, 'train.npy'));
    expect(imported.report.throughput.labelSamplesPerSec).toBeNull();

    // With the teacher's test logits, its column is filled from them.
    const testLogits = tf.tidy(() =>
      (
        teacher.predict(
          tf.tensor(
            Float32Array.from(test.x, (v) => v / 255),
            [200, 28, 28],
          ),
        ) as tf.Tensor
      ).dataSync(),
    );
    await writeFile(join(dir, 'test.npy'), npy(Float32Array.from(testLogits), [200, 10]));
    const evaluated = await distill({
      student: student(),
      train,
      test,
      teacherLogits: join(dir, 'train.npy'),
      teacherTestLogits: join(dir, 'test.npy'),
      ...common,
    });
    let hits = 0;
    const predicted: number[] = [];
    for (let r = 0; r < 200; r++) {
      const row = Array.from(testLogits.subarray(r * 10, r * 10 + 10));
      predicted.push(row.indexOf(Math.max(...row)));
      if (predicted[r] === test.y[r]) hits++;
    }
    expect(evaluated.report.teacher).toEqual({
      accuracy: hits / 200,
      imported: true,
      ...classificationScores(Int32Array.from(predicted), test.y, 10),
    });
    expect(evaluated.report.student.agreement).toBeGreaterThan(0);
  });

  it('bad files: clear errors naming the file and the shape or dtype', async () => {
    await writeFile(join(dir, 'short.npy'), npy(new Float32Array(500 * 10), [500, 10]));
    await expect(distill({ student: student(), train, test, teacherLogits: join(dir, 'short.npy'), ...common })).rejects.toThrow(
      /short\.npy has shape \(500, 10\): 500 rows, but 600 are expected \(one per example, in the dataset's order\)/,
    );
    await writeFile(join(dir, 'wide.npy'), npy(new Float32Array(600 * 4), [600, 4]));
    await expect(distill({ student: student(), train, test, teacherLogits: join(dir, 'wide.npy'), ...common })).rejects.toThrow(
      /wide\.npy has shape \(600, 4\): 4 columns, but 10 are expected \(one per class\)/,
    );
    await expect(distill({ student: student(), train, test, ...common })).rejects.toThrow(
      /^give a teacher \(a model, a model\.json or an \.onnx file\), or its logits \(teacherLogits\)$/,
    );
  });

  it('the CLI: --teacher-logits and --teacher-test-logits, no teacher built', async () => {
    const out = join(dir, 'cli');
    const result = runCli([
      'run',
      '--data',
      'mnist',
      '--limit',
      '600',
      '--teacher-logits',
      join(dir, 'train.npy'),
      '--teacher-test-logits',
      join(dir, 'wrong-rows.npy'),
      '--out',
      out,
    ]);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(
      /^tfjs-distill: error: npy file .*wrong-rows\.npy does not exist; check the path$/,
    );
    expect(result.stderr).not.toMatch(/distilling/); // stopped before any training
    // The bundled digits have 2,000 test rows: give logits for them.
    const digits = await loadMnist();
    await writeFile(
      join(dir, 'test-all.npy'),
      npy(
        new Float32Array(digits.test.y.length * 10).map((_, i) => (i % 10 === digits.test.y[Math.floor(i / 10)] ? 5 : 0)),
        [digits.test.y.length, 10],
      ),
    );
    const ok = runCli([
      'run',
      '--data',
      'mnist',
      '--limit',
      '600',
      '--teacher-logits',
      join(dir, 'train.npy'),
      '--teacher-test-logits',
      join(dir, 'test-all.npy'),
      '--student-arch',
      'mlp:8',
      '--epochs',
      '1',
      '--workers',
      '2',
      '--allow-weak-teacher',
      '--out',
      out,
    ]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/test accuracy\s+100\.00%/); // the test logits put all the mass on the label
    expect(ok.stdout).toMatch(/parameters\s+-\s+/);
    expect(ok.stdout).toMatch(/soft labels: full float32 logits, 40 bytes per row, imported from .*train\.npy/);
  });
});
