import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import type { Dataset } from '../dist/data/dataset.js';
import { distill } from '../dist/distill/distill.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData } from '../dist/models/model-data.js';
import { digitRows } from './helpers/digits.js';

describe('validation, model selection and early stopping', () => {
  let train: Dataset;
  let test: Dataset;
  let dir: string;
  beforeAll(async () => {
    ({ train, test } = await digitRows(640, 200));
    dir = await mkdtemp(join(tmpdir(), 'validation-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const teacher = () => buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 3 });
  const student = () => buildModel('mlp:16', { inputShape: [28, 28], numClasses: 10, seed: 4 });
  const base = { teacherEpochs: 2, workers: 2, batchSize: 64, labeled: 320, baseline: true, validation: 64 } as const;
  const weights = async (model: tf.LayersModel) => new Float32Array((await modelToData(model)).weights);

  it('every epoch of every phase is validated on held-out labelled rows, in the history, never trained on', async () => {
    const { report } = await distill({ teacher: teacher(), student: student(), train, test, epochs: 3, ...base });
    const epochs = report.history.filter((r) => r.kind === 'epoch');
    // The baseline takes the student's 27 steps over its 256 training rows: 7 passes of 4 batches, the last partial.
    expect(epochs.map((r) => `${r.phase}:${r.epoch}:${r.step}`)).toEqual([
      ...['teacher:1:9', 'teacher:2:18', 'student:1:9', 'student:2:18', 'student:3:27'],
      ...['baseline:1:4', 'baseline:2:8', 'baseline:3:12', 'baseline:4:16', 'baseline:5:20', 'baseline:6:24', 'baseline:7:27'],
    ]);
    for (const record of epochs) {
      expect(record.validation!.accuracy).toBeGreaterThan(0);
      expect(record.validation!.loss).toBeGreaterThan(0);
      expect(record.learningRate).toBe(0.001);
      expect(record.trainLoss).toBeGreaterThan(0);
      // The teacher has no teacher to agree with; the students do.
      expect(record.validation!.agreement === undefined).toBe(record.phase === 'teacher');
    }
    // The student trained on 640 - 64 rows per epoch, the baseline on the 320 - 64 labelled ones it keeps.
    const distilled = report.phases.find((p) => p.phase === 'student')!;
    expect(distilled.samples).toBe(3 * 576);
    expect(report.phases.find((p) => p.phase === 'baseline')!.steps).toBe(distilled.steps);
    expect(distilled.selection).toMatchObject({ metric: 'accuracy', epochs: 3, stoppedEarly: false });
    expect(report.history.filter((r) => r.kind === 'evaluation').map((r) => r.model)).toEqual(['teacher', 'student', 'baseline']);
  });

  it('early stopping ends a phase after `patience` epochs without improvement; keep best returns the best epoch', async () => {
    // A learning rate too small to change any prediction: no epoch improves on the first.
    const stalled = await distill({
      teacher: teacher(),
      student: student(),
      train,
      test,
      epochs: 10,
      ...base,
      optimizer: { learningRate: 1e-9 },
      earlyStopping: { patience: 2 },
      allowWeakTeacher: true, // the learning rate leaves the teacher untrained too
    });
    const phase = stalled.report.phases.find((p) => p.phase === 'student')!;
    expect(phase.selection).toEqual({
      metric: 'accuracy',
      bestEpoch: 1,
      bestValue: expect.any(Number),
      keptEpoch: 1,
      epochs: 3,
      stoppedEarly: true,
    });
    expect(phase.steps).toBe(3 * 9);
    expect(stalled.report.history.filter((r) => r.kind === 'epoch' && r.phase === 'student')).toHaveLength(3);

    // keep 'best' ends with the weights of the best epoch: the same as a run of exactly that many epochs.
    const best = await distill({ teacher: teacher(), student: student(), train, test, epochs: 6, ...base, keep: 'best' });
    const kept = best.report.phases.find((p) => p.phase === 'student')!.selection!;
    expect(kept.keptEpoch).toBe(kept.bestEpoch);
    const short = await distill({ teacher: teacher(), student: student(), train, test, epochs: 6, ...base, keep: 'last' });
    expect(short.report.phases.find((p) => p.phase === 'student')!.selection!.keptEpoch).toBe(6);
    if (kept.bestEpoch < 6) expect(await weights(best.student)).not.toEqual(await weights(short.student));
    const cut = await distill({ teacher: teacher(), student: student(), train, test, epochs: kept.bestEpoch, ...base, keep: 'last' });
    // The cosine/constant schedule and the batch order depend on the step only: the first epochs are the same.
    expect(await weights(cut.student)).toEqual(await weights(best.student));
  });

  it('a resumed run keeps the selection; the settings are checked', async () => {
    const checkpoint = { dir: join(dir, 'run') };
    const options = {
      teacher: teacher(),
      student: student(),
      train,
      test,
      epochs: 10,
      ...base,
      optimizer: { learningRate: 1e-9 },
      earlyStopping: { patience: 2 },
      allowWeakTeacher: true, // the learning rate leaves the teacher untrained too
    };
    const first = await distill({ ...options, checkpoint });
    const again = await distill({ ...options, checkpoint: { ...checkpoint, resume: true } });
    expect(again.report.resumed).toEqual(expect.arrayContaining(['teacher', 'label', 'student', 'baseline']));
    expect(again.report.phases.find((p) => p.phase === 'student')!.selection).toEqual(
      first.report.phases.find((p) => p.phase === 'student')!.selection,
    );
    expect(await weights(again.student)).toEqual(await weights(first.student));
    await expect(distill({ ...options, validation: 1000 })).rejects.toThrow(
      /^validation 1000 leaves 1000 of the 320 labelled rows for validation; it needs at least 1 and fewer than all$/,
    );
    await expect(distill({ ...options, validation: null })).rejects.toThrow(/^earlyStopping needs a validation split \(validation\)$/);
  });

  it('the CLI: --validation, --early-stopping, --loss dkd --dkd-weights, --lr-schedule cosine --warmup-steps; metrics.jsonl', async () => {
    const out = join(dir, 'cli');
    const args = ['run', '--data', 'mnist', '--limit', '800', '--labeled', '400', '--teacher-arch', 'mlp:16', '--teacher-epochs', '2'];
    const more = ['--student-arch', 'mlp:8', '--epochs', '4', '--workers', '2', '--validation', '0.25', '--early-stopping', '3'];
    // Ten steps leave this teacher near chance; the flags are on trial here, not the teacher.
    more.push('--allow-weak-teacher');
    const rules = ['--loss', 'dkd', '--dkd-weights', '1,2', '--lr-schedule', 'cosine', '--warmup-steps', '5', '--weight-decay', '0.01'];
    const result = runCli([...args, ...more, ...rules, '--clip-norm', '5', '--out', out]);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.config).toMatchObject({
      validation: 0.25,
      earlyStopping: { patience: 3 },
      loss: { name: 'dkd', targetWeight: 1, nonTargetWeight: 2 },
      lrSchedule: { name: 'cosine', warmupSteps: 5 },
      weightDecay: 0.01,
      clipNorm: 5,
    });
    const lines = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual(report.history);
    const student = lines.filter((r) => r.kind === 'epoch' && r.phase === 'student');
    expect(student.length).toBeGreaterThan(0);
    // Warmup then cosine: the rate rises over the first steps, then falls.
    expect(student[0].learningRate).toBeGreaterThan(student.at(-1).learningRate);
    for (const record of student) expect(record.validation.agreement).toBeGreaterThanOrEqual(0);
  });
});
