import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../dist/data/dataset.js';
import { distill } from '../dist/distill/distill.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData } from '../dist/models/model-data.js';
import { digitRows } from './helpers/digits.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

describe('choosing the distillation loss', () => {
  let train: Dataset;
  let test: Dataset;
  beforeAll(async () => {
    ({ train, test } = await digitRows(512, 256));
  });

  const run = async (loss: Parameters<typeof distill>[0]['loss']) => {
    const teacher = buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 3 });
    const student = buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10, seed: 4 });
    const result = await distill({
      teacher,
      student,
      train,
      test,
      loss,
      teacherEpochs: 2,
      epochs: 2,
      workers: 2,
      batchSize: 64,
      labeled: 128,
    });
    return { weights: new Float32Array((await modelToData(result.student)).weights), report: result.report };
  };
  const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

  it('kd, dkd and mse-logits train different students; a module of your own with the same maths as kd trains the same one', async () => {
    const kd = await run('kd');
    const dkd = await run({ name: 'dkd', targetWeight: 1, nonTargetWeight: 2 });
    const mse = await run('mse-logits');
    expect(maxAbsDiff(kd.weights, dkd.weights)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(kd.weights, mse.weights)).toBeGreaterThan(1e-3);
    for (const { report } of [kd, dkd, mse]) expect(report.phases.find((p) => p.phase === 'student')!.finalLoss).toBeGreaterThan(0);
    expect(kd.report.config.loss).toBe('kd');
    // The same objective through tfjs's autodiff in every worker: float32 instead of float64, so close, not equal.
    const custom = await run({ module: join(FIXTURES, 'kd-loss.mjs') });
    expect(maxAbsDiff(custom.weights, kd.weights)).toBeLessThan(1e-3);
    // Its options reach it: another temperature is another objective.
    const scaled = await run({ module: join(FIXTURES, 'kd-loss.mjs'), options: { temperatureScale: 0.25 } });
    expect(maxAbsDiff(scaled.weights, kd.weights)).toBeGreaterThan(1e-3);
  });

  it('a bad loss: an unknown name, bad DKD weights, a module without a default function', async () => {
    await expect(run('hinton' as never)).rejects.toThrow(
      /^loss "hinton" is not one of kd, dkd, mse-logits, or \{ module: 'path\/to\/loss\.mjs' \}$/,
    );
    await expect(run({ name: 'dkd', nonTargetWeight: -1 })).rejects.toThrow(/^loss\.nonTargetWeight must be a number >= 0, got -1$/);
    await expect(run({ module: join(FIXTURES, 'not-a-loss.mjs') })).rejects.toThrow(
      /the loss module .*not-a-loss\.mjs has no default export of a function \(inputs, settings\) => tf\.Scalar/,
    );
  });
});
