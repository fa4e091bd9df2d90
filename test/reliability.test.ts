import type * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DISTILLATION_DEFAULTS,
  type Dataset,
  type DistillOptions,
  type ProgressEvent,
  buildModel,
  distill,
  takeRows,
} from '../dist/index.js';
// @ts-expect-error: a plain JS fixture
import { faultyStudent } from './fixtures/faulty-layer.mjs';
import { digitRows } from './helpers/digits.js';

const FAULTY = new URL('./fixtures/faulty-layer.mjs', import.meta.url).href;
let train: Dataset;
let test: Dataset;
let dir: string;
const teacher = () => buildModel('mlp:16', { inputShape: [28, 28], numClasses: 10, seed: 1 });
const weightsOf = async (model: tf.LayersModel) => new Float32Array(model.getWeights().flatMap((w) => [...w.dataSync()]));
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** 600 rows, batch 50: 12 steps per epoch, 2 epochs of a small student that may carry a fault. */
function options(fault: object, extra: Partial<DistillOptions> = {}): DistillOptions {
  return {
    teacher: teacher(),
    student: faultyStudent({ failAt: -1, mode: 'throw', ...fault }),
    train,
    test,
    workers: 2,
    epochs: 2,
    batchSize: 50,
    backend: 'wasm',
    workerImports: [FAULTY],
    allowWeakTeacher: true, // an untrained teacher: failures and checkpoints are on trial here
    ...extra,
  };
}

describe('worker failures and checkpoints', () => {
  let reference: Float32Array;

  beforeAll(async () => {
    ({ train, test } = await digitRows(600, 200));
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-reliability-'));
    reference = await weightsOf((await distill(options({}))).student);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a worker that throws: the pool restarts and resumes from the last checkpoint, ending with the same weights', async () => {
    const notices: string[] = [];
    const result = await distill(
      options(
        { failAt: 7, mode: 'throw', once: join(dir, 'throw.once') },
        { checkpoint: { dir: join(dir, 'throw'), everySteps: 5 }, onProgress: (e: ProgressEvent) => e.notice && notices.push(e.notice) },
      ),
    );
    expect(result.report.restarts).toEqual([
      { phase: 'student', reason: expect.stringMatching(/^injected failure at call 7 \(worker [01]\)$/) },
    ]);
    expect(notices).toEqual([expect.stringMatching(/restarting the workers \(1 of 2\) from its last checkpoint$/)]);
    expect(result.report.resumed).toEqual(['student from step 5']);
    expect(maxAbsDiff(await weightsOf(result.student), reference)).toBeLessThanOrEqual(1e-4);
  });

  it("a failure on the one training rank of a 2-worker pool (trainWorkers 1): the pool restarts, and the run ends with a 1-rank run's weights", async () => {
    const oneRank = await weightsOf((await distill(options({}, { trainWorkers: 1 }))).student);
    const result = await distill(
      options(
        { failAt: 7, mode: 'throw', once: join(dir, 'first-rank.once') },
        { trainWorkers: 1, checkpoint: { dir: join(dir, 'first-rank'), everySteps: 5 } },
      ),
    );
    // Only rank 0 trains, so only worker 0 reaches the faulty call.
    expect(result.report.restarts).toEqual([{ phase: 'student', reason: 'injected failure at call 7 (worker 0)' }]);
    expect(result.report.resumed).toEqual(['student from step 5']);
    expect(result.report).toMatchObject({ workers: 2, trainWorkers: 1 });
    expect(maxAbsDiff(await weightsOf(result.student), oneRank)).toBeLessThanOrEqual(1e-4);
  });

  it('a worker that exits every time: restarts up to maxRestarts, then a clear error naming the worker', async () => {
    const notices: string[] = [];
    const run = distill(
      options({ failAt: 3, mode: 'exit' }, { maxRestarts: 1, onProgress: (e: ProgressEvent) => e.notice && notices.push(e.notice) }),
    );
    await expect(run).rejects.toThrow(/^worker [01] exited unexpectedly \(exited with code: 7\)$/);
    expect(notices).toHaveLength(1);
  });

  it('a worker that runs out of memory is reported as such', async () => {
    const run = distill(options({ failAt: 2, mode: 'oom', once: join(dir, 'oom.once') }, { maxRestarts: 0, workerMemoryMb: 64 }));
    await expect(run).rejects.toThrow(
      /^worker [01] ran out of memory \(its 64 MB JS heap limit\); raise the limit \(workerMemoryMb\) or lower the batch size \(batchSize\)$/,
    );
  });

  it('a worker that hangs is found by its heartbeat, named, terminated, and the run restarts', async () => {
    const result = await distill(
      options(
        { failAt: 4, mode: 'hang', once: join(dir, 'hang.once') },
        { barrierTimeoutMs: 1500, checkpoint: { dir: join(dir, 'hang'), everySteps: 2 } },
      ),
    );
    expect(result.report.restarts).toEqual([
      {
        phase: 'student',
        reason: expect.stringMatching(/^worker [01] made no progress for 2 s \(hung in a step\); the pool was stopped$/),
      },
    ]);
    expect(maxAbsDiff(await weightsOf(result.student), reference)).toBeLessThanOrEqual(1e-4);
  });

  it('an inference task (here the evaluation) that hangs times out, and the run restarts', async () => {
    // The student's inference calls: with teacherEpochs 0 its first are the evaluation's, so hang there.
    const result = await distill(
      options({ failAt: 1, mode: 'hang', inference: true, once: join(dir, 'infer.once') }, { barrierTimeoutMs: 1500 }),
    );
    expect(result.report.restarts).toEqual([
      { phase: 'evaluate', reason: "a worker made no progress for 2 s (hung in a 'infer' task); the pool was stopped" },
    ]);
    expect(result.report.student.accuracy).toBeGreaterThan(0.3);
  });

  it('a non-finite gradient: abort names the step and is not retried; skip counts the step and goes on', async () => {
    const notices: string[] = [];
    const aborted = distill(options({ failAt: 3, mode: 'nan' }, { onProgress: (e: ProgressEvent) => e.notice && notices.push(e.notice) }));
    await expect(aborted).rejects.toThrow(
      /^student training diverged: the averaged gradient or loss \(NaN\) is not finite at step 3 \(epoch 1\);.* \(worker [01]\)$/,
    );
    expect(notices).toEqual([]);
    const skipped = await distill(options({ failAt: 3, mode: 'nan' }, { onNonFinite: 'skip' }));
    expect(skipped.report.phases[0]).toMatchObject({ phase: 'student', steps: 24, skippedSteps: 1 });
    expect(skipped.report.notices).toContain('student training skipped 1 of 24 steps whose averaged gradient was not finite');
  });

  describe('resume', () => {
    it('after a cancel, resuming (with another worker count) ends with the weights of an uninterrupted run', async () => {
      const checkpoint = { dir: join(dir, 'cancel'), everySteps: 4 };
      const abort = new AbortController();
      const onProgress = (e: ProgressEvent) => e.phase === 'student' && e.done >= 9 && abort.abort();
      await expect(distill(options({}, { checkpoint, signal: abort.signal, onProgress }))).rejects.toThrow(
        /^cancelled during student training at step \d+ of 24; its state is checkpointed$/,
      );
      const resumed = await distill(options({}, { checkpoint: { ...checkpoint, resume: true }, workers: 1 }));
      expect(resumed.report.resumed).toEqual(['label', expect.stringMatching(/^student from step (9|1\d|2[0-3])$/)]);
      expect(maxAbsDiff(await weightsOf(resumed.student), reference)).toBeLessThanOrEqual(1e-4);
      // Resuming a finished run redoes nothing but the evaluation.
      const again = await distill(options({}, { checkpoint: { ...checkpoint, resume: true } }));
      expect(again.report.resumed).toEqual(['label', 'student']);
      expect(again.report.phases[0].stepMs).toBeUndefined(); // no step ran in this run
      // The steps after the checkpoint, less the first (one-off costs), make the step breakdown.
      const stepsRun = 24 - Number(/\d+$/.exec(resumed.report.resumed[1])![0]);
      if (stepsRun >= 2) expect(resumed.report.phases[0].stepMs!.gradient).toBeGreaterThan(0);
      else expect(resumed.report.phases[0].stepMs).toBeUndefined();
      expect(maxAbsDiff(await weightsOf(again.student), await weightsOf(resumed.student))).toBe(0);
    });

    it('refuses another config (naming the keys), a missing checkpoint, an existing one without resume, and a corrupt file', async () => {
      const checkpoint = { dir: join(dir, 'checks'), everySteps: 4 };
      await distill(options({}, { checkpoint, epochs: 1 }));
      // Every training row here keeps its label, so the checkpointed run took the labelled-rows temperature.
      const checkpointed = DISTILLATION_DEFAULTS.mostLabelled.temperature;
      await expect(distill(options({}, { checkpoint: { ...checkpoint, resume: true }, epochs: 3, temperature: 2 }))).rejects.toThrow(
        new RegExp(
          `^cannot resume from .*checks: this run differs from the checkpointed one in epochs \\(checkpoint 1, now 3\\), temperature \\(checkpoint ${checkpointed}, now 2\\); `,
        ),
      );
      await expect(
        distill(options({}, { checkpoint: { ...checkpoint, resume: true }, epochs: 1, train: takeRows(train, 500) })),
      ).rejects.toThrow(/differs from the checkpointed one in trainData \(checkpoint [0-9a-f]{16}, now [0-9a-f]{16}\)/);
      await expect(distill(options({}, { checkpoint: { dir: join(dir, 'none'), resume: true } }))).rejects.toThrow(
        /^nothing to resume: .*none holds no checkpoint; start the run without checkpoint\.resume$/,
      );
      expect(existsSync(join(dir, 'none'))).toBe(false);
      await expect(distill(options({}, { checkpoint, epochs: 1 }))).rejects.toThrow(
        /checks already holds the checkpoint of an earlier run; continue it with checkpoint\.resume, or delete it to start afresh$/,
      );
      const file = join(checkpoint.dir, 'student.ckpt');
      const bytes = await readFile(file);
      bytes[bytes.length - 3] ^= 0xff;
      await writeFile(file, bytes);
      await expect(distill(options({}, { checkpoint: { ...checkpoint, resume: true }, epochs: 1 }))).rejects.toThrow(
        /^checkpoint file .*student\.ckpt is corrupt \(checksum mismatch\); delete the checkpoint folder and start again$/,
      );
    });
  });
});
