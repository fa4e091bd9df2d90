import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, DistillCancelledError, DistillError, type ProgressEvent, buildModel, distill, takeRows } from '../dist/index.js';
import { summaryTable } from '../dist/cli/summary-table.js';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { digitRows } from './helpers/digits.js';

/** Whether the native OpenBLAS kernels load here (CI installs OpenBLAS; see .ci/run). */
const NATIVE = 'blas' in loadBlas();

let train: Dataset;
let test: Dataset;
const model = (spec: string, seed: number) => buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed });

describe('distill() on a slice of the bundled MNIST digits', () => {
  beforeAll(async () => {
    ({ train, test } = await digitRows(1500, 500));
  });

  it('trains the teacher, distils the student, evaluates both, and reports it all', async () => {
    const events: ProgressEvent[] = [];
    const result = await distill({
      teacher: model('mlp:64', 1),
      student: model('mlp:16', 2),
      train,
      test,
      teacherEpochs: 4,
      labeled: 500,
      epochs: 4,
      batchSize: 64,
      workers: 2,
      baseline: true,
      onProgress: (event) => events.push(event),
    });
    const { report } = result;
    expect(report.backend).toBe('wasm'); // auto: tfjs-node is not installed here
    expect(report.kernels).toBe(NATIVE ? 'openblas' : 'wasm');
    if (NATIVE) expect(report.notices.join('\n')).toMatch(/wasm backend: BatchMatMul, .* run in tfjs-distill.s native addon, on OpenBLAS/);
    expect(report.notices.join('\n')).toMatch(/tensorflow backend unavailable: .*\(workers 0, 1\)/);
    expect(report.workers).toBe(2);
    expect(report.data).toEqual({
      trainRows: 1500,
      labeledRows: 500,
      teacherLabeledRows: 1500,
      testRows: 500,
      featureShape: [28, 28],
      numClasses: 10,
    });
    // Well above chance (10%) for every model.
    expect(report.teacher.accuracy).toBeGreaterThan(0.8);
    expect(report.student.accuracy).toBeGreaterThan(0.6);
    expect(report.baseline!.accuracy).toBeGreaterThan(0.6);
    for (const value of [report.student.agreement, report.baseline!.agreement]) {
      expect(value).toBeGreaterThan(0.6);
      expect(value).toBeLessThanOrEqual(1);
    }
    expect(report.teacher.params).toBe(784 * 64 + 64 + 64 * 10 + 10);
    expect(report.student.params).toBe(784 * 16 + 16 + 16 * 10 + 10);
    expect(report.teacher.bytes).toBeGreaterThan(report.teacher.params * 4);
    for (const m of [report.teacher, report.student]) {
      expect(m.latencyMsBatch1).toBeGreaterThan(0);
      expect(m.latencyMsBatch256).toBeGreaterThan(0);
      expect(m.latencyMsBatch256).toBeLessThan(m.latencyMsBatch1); // batching amortises per-call cost
    }
    expect(report.phases.map((p) => [p.phase, p.steps, p.samples])).toEqual([
      ['teacher', 4 * 24, 4 * 1500],
      ['student', 4 * 24, 4 * 1500],
      ['baseline', 4 * 24, 12 * 500], // the same 96 steps: 12 epochs of 8 batches over the 500 labelled rows
    ]);
    // Each phase says where its steps went; waiting for the slower worker is part of the averaging.
    for (const { stepMs, seconds, steps } of report.phases) {
      expect(stepMs!.gradient).toBeGreaterThan(0);
      expect(stepMs!.waiting).toBeGreaterThanOrEqual(0);
      expect(stepMs!.waiting).toBeLessThanOrEqual(stepMs!.averaging);
      expect(stepMs!.gradient + stepMs!.averaging + stepMs!.update).toBeLessThanOrEqual((seconds / steps) * 1000 + 1);
    }
    expect(summaryTable(report, { teacher: 'mlp:64', student: 'mlp:16' })).toMatch(
      /^distillation step: [\d.]+ ms gradient, [\d.]+ ms averaging \([\d.]+ waiting for the slowest worker\), [\d.]+ ms update$/m,
    );
    for (const rate of [report.throughput.labelSamplesPerSec, report.throughput.trainSamplesPerSec, report.throughput.setupSeconds]) {
      expect(rate).toBeGreaterThan(0);
    }
    expect(report.config).toMatchObject({ kernels: 'auto', workers: 2, epochs: 4, labeled: 500, temperature: 4, alpha: 0.9, seed: 1 });

    // The returned student lives on this thread and agrees with the report's accuracy.
    const predictions = tf.tidy(() => (result.student.predict(tf.tensor(test.x, [500, 28, 28])) as tf.Tensor).argMax(-1).dataSync());
    const accuracy = predictions.filter((p, i) => p === test.y[i]).length / 500;
    expect(Math.abs(accuracy - report.student.accuracy)).toBeLessThanOrEqual(0.004);

    // Progress streamed through every phase, ending complete.
    const phases = [...new Set(events.map((e) => e.phase))];
    expect(phases).toEqual(['setup', 'teacher', 'label', 'student', 'baseline', 'evaluate']);
    const lastStudent = events.filter((e) => e.phase === 'student').at(-1)!;
    expect(lastStudent).toMatchObject({ done: 96, total: 96, epoch: 4, epochs: 4 });
    expect(lastStudent.loss).toBeGreaterThan(0);
  });

  it.runIf(NATIVE)('the openblas and wasm kernel sets train the same CNN student (kernels option and TFJS_DISTILL_KERNELS)', async () => {
    const run = () =>
      distill({
        teacher: model('mlp:16', 1),
        student: model('cnn:4', 2),
        train: takeRows(train, 384),
        test,
        epochs: 1,
        batchSize: 64,
        workers: 2,
        allowWeakTeacher: true, // an untrained teacher: the kernels are on trial here
      });
    const native = await distill({
      teacher: model('mlp:16', 1),
      student: model('cnn:4', 2),
      train: takeRows(train, 384),
      test,
      epochs: 1,
      batchSize: 64,
      workers: 2,
      kernels: 'openblas',
      allowWeakTeacher: true,
    });
    process.env.TFJS_DISTILL_KERNELS = 'wasm';
    let wasm: Awaited<ReturnType<typeof distill>>;
    try {
      wasm = await run();
    } finally {
      delete process.env.TFJS_DISTILL_KERNELS;
    }
    expect(native.report.kernels).toBe('openblas');
    expect(wasm.report.kernels).toBe('wasm');
    expect(wasm.report.config.kernels).toBe('wasm');
    const [a, b] = [native.student.getWeights(), wasm.student.getWeights()];
    expect(a.length).toBe(6);
    a.forEach((w, i) => {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(w, b[i]))).dataSync()[0]);
      const scale = tf.tidy(() => tf.max(tf.abs(w)).dataSync()[0]);
      expect(diff).toBeLessThanOrEqual(1e-3 * scale);
    });
    expect(native.report.student.accuracy).toBeCloseTo(wasm.report.student.accuracy, 2);
  });

  it('rejects an unknown kernels value, openblas off the wasm backend, and a bad TFJS_DISTILL_KERNELS', async () => {
    const base = { teacher: model('mlp:8', 1), student: model('mlp:8', 2), train, test };
    await expect(distill({ ...base, kernels: 'blas' as never })).rejects.toThrow(/^kernels 'blas' is not one of auto, openblas, wasm$/);
    await expect(distill({ ...base, kernels: 'openblas', backend: 'cpu' })).rejects.toThrow(
      /^kernels 'openblas' run only on wasm, but backend is 'cpu': set backend 'wasm' \(or 'auto'\), or kernels 'auto'$/,
    );
    process.env.TFJS_DISTILL_KERNELS = 'fast';
    try {
      await expect(distill(base)).rejects.toThrow(/TFJS_DISTILL_KERNELS=fast is not a kernel choice: use one of auto, openblas, wasm/);
    } finally {
      delete process.env.TFJS_DISTILL_KERNELS;
    }
  });

  it('cancels through an AbortSignal at the next step, and rejects', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const run = distill({
      teacher: model('mlp:64', 1),
      student: model('mlp:16', 2),
      train,
      test,
      epochs: 200,
      workers: 2,
      allowWeakTeacher: true, // an untrained teacher: cancelling is on trial here
      signal: controller.signal,
      onProgress: (event) => {
        if (event.phase === 'student' && event.done >= 5) controller.abort();
      },
    });
    await expect(run).rejects.toThrow(DistillCancelledError);
    await expect(run).rejects.toThrow(/cancelled during student training at step \d+ of 2400/);
    expect(performance.now() - started).toBeLessThan(60_000);
  });

  it("a worker's error reaches the caller with its message and rank", async () => {
    // A layer class registered on this thread only: the workers cannot rebuild the model.
    class Doubler extends tf.layers.Layer {
      static className = 'DoublerOnlyOnMainThread';
      override call(inputs: tf.Tensor | tf.Tensor[]) {
        return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, 2);
      }
    }
    tf.serialization.registerClass(Doubler);
    const student = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [28, 28] }), new Doubler({}), tf.layers.dense({ units: 10 })],
    });
    const run = distill({ teacher: model('mlp:16', 1), student, train, test, epochs: 1, workers: 2, allowWeakTeacher: true });
    await expect(run).rejects.toThrow(/Unknown layer: DoublerOnlyOnMainThread.*\(worker [01]\)/);
  });

  it('rejects labels outside [0, numClasses) and unlabeled test rows', async () => {
    const bad = { ...train, y: train.y.slice() };
    bad.y[7] = 10;
    await expect(distill({ teacher: model('mlp:8', 1), student: model('mlp:8', 2), train: bad, test })).rejects.toThrow(
      /train data: label 10 at row 7 is outside \[0, 10\)/,
    );
    const unlabeled = { ...test, y: test.y.slice() };
    unlabeled.y[0] = -1;
    await expect(distill({ teacher: model('mlp:8', 1), student: model('mlp:8', 2), train, test: unlabeled })).rejects.toThrow(DistillError);
  });
});
