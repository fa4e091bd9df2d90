import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogitTable } from '../dist/data/logit-table.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import type { ProgressEvent } from '../dist/progress.js';
import { mulberry32 } from '../dist/random.js';
import { DistillCancelledError } from '../dist/errors.js';
import { RunCheckpoint } from '../dist/train/checkpoint.js';
import { trainDataParallel } from '../dist/train/data-parallel.js';
import { planPhase } from '../dist/train/plan.js';

const ROWS = 64;
const FEATURES = 12;
const CLASSES = 3;

// Rank 0 hands each checkpoint to the coordinator, which writes it while the ranks train on.
describe('checkpoints handed over to the coordinator', () => {
  let pool: TfjsPool;
  let dir: string;
  beforeAll(async () => {
    pool = await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000 });
    dir = await mkdtemp(join(tmpdir(), 'handover-'));
  });
  afterAll(async () => {
    await pool.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const phase = async (
    path: string | undefined,
    steps: number,
    extra: { signal?: AbortSignal; onProgress?: (event: ProgressEvent) => void; on?: TfjsPool } = {},
  ) => {
    const random = mulberry32(4);
    const x = Float32Array.from({ length: ROWS * FEATURES }, () => random() * 2 - 1);
    const y = Int32Array.from({ length: ROWS }, (_, i) => i % CLASSES);
    const data = SharedDataset.fromDataset({ x, y, shape: [ROWS, FEATURES], numClasses: CLASSES }, 'train');
    const soft = LogitTable.create(ROWS, CLASSES);
    soft.values.set(Float32Array.from({ length: ROWS * CLASSES }, () => random() * 4 - 2));
    const model = buildModel('mlp:32', { inputShape: [FEATURES], numClasses: CLASSES, seed: 2 });
    const ranks = extra.on ?? pool;
    return trainDataParallel(ranks, {
      phase: 'student',
      model: shareModel(await modelToData(model)),
      trainableParams: model.countParams(),
      data,
      rows: Int32Array.from({ length: ROWS }, (_, i) => i),
      softLabels: soft,
      loss: { name: 'kd', temperature: 2, alpha: 0.7 },
      optimizer: { name: 'adam', learningRate: 0.01 },
      plan: planPhase({ rows: ROWS, batchSize: 16, workers: ranks.workers, steps }),
      seed: 3,
      onNonFinite: 'abort',
      checkpoint: path === undefined ? undefined : { path, everySteps: 3 },
      onProgress: extra.onProgress ?? (() => {}),
      signal: extra.signal,
    });
  };

  it("is on disk when the phase returns: the last one holds the phase's final weights and step", async () => {
    const checkpoints = await RunCheckpoint.open({ dir: join(dir, 'done') }, {});
    const outcome = await phase(checkpoints.phaseFile('student'), 10);
    const saved = await checkpoints.loadPhase('student');
    expect(saved?.progress.step).toBe(10);
    expect(Buffer.from(saved!.weights).equals(Buffer.from(outcome.weights))).toBe(true);
    expect(saved!.optimizer.iterations).toBe(10);
  });

  it('a cancel stops every rank within a step or so, and the state at that step is on disk', async () => {
    const checkpoints = await RunCheckpoint.open({ dir: join(dir, 'cancel') }, {});
    const abort = new AbortController();
    const run = phase(checkpoints.phaseFile('student'), 4000, {
      signal: abort.signal,
      onProgress: (event) => event.done >= 5 && abort.abort(),
    });
    await expect(run).rejects.toThrow(/^cancelled during student training at step (\d+) of 4000; its state is checkpointed$/);
    const step = Number(/step (\d+)/.exec(await run.catch((error: Error) => error.message))![1]);
    expect(step).toBeLessThan(4000);
    expect((await checkpoints.loadPhase('student'))?.progress.step).toBe(step);
  });

  it('a write that fails stops the ranks with an error naming the file, and nothing hangs', async () => {
    const missing = join(dir, 'no-such-folder', 'student.ckpt');
    let stepsDone = 0;
    await expect(phase(missing, 4000, { onProgress: (event) => (stepsDone = Math.max(stepsDone, event.done)) })).rejects.toThrow(
      new RegExp(`^cannot write the checkpoint ${missing}: .*ENOENT.*; free space or fix the folder's permissions$`),
    );
    expect(stepsDone).toBeLessThan(4000); // the ranks stopped at the write's failure, not at the phase's end
    // The pool is as healthy as before: the failure was the coordinator's, not a worker's.
    const checkpoints = await RunCheckpoint.open({ dir: join(dir, 'after') }, {});
    expect((await phase(checkpoints.phaseFile('student'), 4)).steps).toBe(4);
  });

  // A sweep trains as many phases side by side as there are workers, every one under the sweep's signal.
  it('phases side by side under one signal all stop on its cancel, adding one abort listener to it, not one each', async () => {
    const sideBySide = 12; // more than the listeners Node allows on one signal before it warns of a leak
    const singles = (await TfjsPool.startTfjs({ workers: sideBySide, backend: 'wasm', barrierTimeoutMs: 60_000 })).split();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const abort = new AbortController();
      const running = new Set<number>();
      const runs = singles.map((single, index) =>
        phase(undefined, 4000, {
          on: single,
          signal: abort.signal,
          onProgress: () => {
            running.add(index);
            if (running.size === sideBySide) abort.abort(); // every phase has stepped
          },
        }),
      );
      const outcomes = await Promise.allSettled(runs);
      await new Promise(setImmediate); // warnings are emitted on the next tick
      expect(outcomes.map((o) => (o.status === 'rejected' ? o.reason instanceof DistillCancelledError : o.status))).toEqual(
        Array(sideBySide).fill(true),
      );
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await Promise.all(singles.map((single) => single.destroy()));
    }
  });
  it("resuming removes the temporary files a killed writer left, and keeps a live writer's", async () => {
    const folder = join(dir, 'temps');
    await RunCheckpoint.open({ dir: folder }, { seed: 1 });
    const child = spawn(process.execPath, ['-e', '']);
    await once(child, 'exit'); // its process id now names no running process
    const abandoned = `student.ckpt.tmp-${child.pid}-abc123`;
    const live = `student.ckpt.tmp-${process.pid}-def456`;
    for (const name of [abandoned, live]) await writeFile(join(folder, name), 'half a checkpoint');
    await RunCheckpoint.open({ dir: folder, resume: true }, { seed: 1 });
    expect((await readdir(folder)).sort()).toEqual([live, 'run.json'].sort());
  });
});
