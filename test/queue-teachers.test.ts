import * as tf from '@tensorflow/tfjs';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, saveModel } from '../dist/index.js';
import { writeGreyRows } from './helpers/npy-writer.js';
import { Cli, errorLine, expectSameBytes, freePort, hasRedis, startRedis, storeParts } from './helpers/queue-processes.js';

// The teacher settings (normalisation, ONNX layout and output, runtime) reach every way of labelling: local,
// sharded and merged, and queued to worker processes.
const ONNX_TEACHER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'onnx', 'cnn_gray.onnx');
const ROWS = 1000;
const FAULTY_LAYER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'faulty-layer.mjs');

describe.skipIf(!hasRedis)('the teacher settings through label, shards and the queue', () => {
  let dir: string;
  let data: string;
  let port: number;
  let redis: ChildProcess;
  const processes: Cli[] = [];
  const cli = (args: string[]) => {
    const process = new Cli(args);
    processes.push(process);
    return process;
  };
  const queue = (name: string) => `redis://127.0.0.1:${port}/${name}`;
  /** `label` over the npy rows with `teacher` and the flags given. */
  const label = (store: string, teacher: string, ...flags: string[]) =>
    cli(['label', '--data', data, '--teacher', teacher, '--soft-labels', join(dir, store), '--workers', '1', ...flags]).exited;
  const onnxSettings = ['--teacher-normalize', '0.1:2', '--teacher-layout', 'nchw', '--teacher-output', 'logits'];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-queue-teachers-'));
    await tf.setBackend('cpu');
    // [rows, 8, 8] greyscale rows for cnn_gray.onnx ([batch, 1, 8, 8]), 3 classes.
    data = await writeGreyRows(dir, ROWS);
    port = await freePort();
    redis = await startRedis(port);
  });

  afterAll(async () => {
    for (const process of processes) process.child.kill('SIGKILL');
    redis?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('an ONNX teacher with --teacher-normalize, --teacher-layout and --teacher-output: local, sharded and queued stores are byte-identical', async () => {
    const worker = cli(['worker', '--queue', queue('onnx'), '--workers', '1']);
    const [local, plain, shard0, shard1, queued] = await Promise.all([
      label('local.sl', ONNX_TEACHER, ...onnxSettings),
      label('plain.sl', ONNX_TEACHER),
      label('sharded.sl', ONNX_TEACHER, ...onnxSettings, '--shard', '0/2'),
      label('sharded.sl', ONNX_TEACHER, ...onnxSettings, '--shard', '1/2'),
      label('queued.sl', ONNX_TEACHER, ...onnxSettings, '--queue', queue('onnx'), '--job-rows', '256'),
    ]);
    for (const result of [local, plain, shard0, shard1, queued]) expect(result.status, result.stderr).toBe(0);
    expect(queued.stdout).toMatch(/labelled 800 rows in 4 jobs/);
    const stem = join(dir, 'sharded.sl');
    const merge = await cli(['merge', join(dir, 'merged.sl'), `${stem}.shard-0-of-2`, `${stem}.shard-1-of-2`]).exited;
    expect(merge.status, merge.stderr).toBe(0);
    await expectSameBytes(join(dir, 'merged.sl'), join(dir, 'local.sl'));
    await expectSameBytes(join(dir, 'queued.sl'), join(dir, 'local.sl'));
    // The normalisation is part of the key and of the logits: without it, both differ (the check can fail).
    const [normalized, unnormalized] = [await storeParts(join(dir, 'local.sl')), await storeParts(join(dir, 'plain.sl'))];
    expect(unnormalized.header.key).not.toBe(normalized.header.key);
    expect(unnormalized.body.equals(normalized.body)).toBe(false);
    expect(worker.stdout).toMatch(/teacher .*cnn_gray\.onnx on onnxruntime/);
    expect((await worker.stop('SIGTERM')).status).toBe(0);
  });

  it('--teacher-runtime under --queue reaches the workers', async () => {
    const teacher = join(dir, 'layers-teacher');
    await saveModel(buildModel('mlp:16', { inputShape: [8, 8], numClasses: 3, seed: 1 }), teacher);
    const worker = cli(['worker', '--queue', queue('runtime'), '--workers', '1']);
    const onQueue = (store: string, runtime: string) => label(store, teacher, '--teacher-runtime', runtime, '--queue', queue('runtime'));
    const tfjs = await onQueue('tfjs.sl', 'tfjs');
    expect(tfjs.status, tfjs.stderr).toBe(0);
    expect(worker.stdout).toMatch(/teacher .*layers-teacher on tfjs\n/);
    const onnxruntime = await onQueue('onnxruntime.sl', 'onnxruntime');
    expect(onnxruntime.status, onnxruntime.stderr).toBe(0);
    expect(worker.stdout).toMatch(/teacher .*layers-teacher on onnxruntime/);
    expect((await worker.stop('SIGTERM')).status).toBe(0);
    // And the library checks it against the teacher, under --queue too, in the CLI's words.
    const refused = await label('never.sl', ONNX_TEACHER, '--teacher-runtime', 'tfjs', '--queue', queue('runtime'));
    expect(errorLine(refused)).toMatch(
      /^tfjs-distill: error: --teacher-runtime 'tfjs' runs layers models, but .*cnn_gray\.onnx is an ONNX teacher/,
    );
  });

  it("the coordinator's --import reaches the workers: a worker started without it labels a teacher with a custom layer", async () => {
    const { faultyStudent } = await import('./fixtures/faulty-layer.mjs');
    const teacher = join(dir, 'custom-layer-teacher');
    // A FaultyLayer that never fires: a custom layer that only loads where its module was imported.
    await saveModel(faultyStudent({ failAt: 1e9, mode: 'throw', inference: true }), teacher);
    const custom = ['--data', 'mnist', '--limit', '512', '--teacher', teacher, '--teacher-runtime', 'tfjs', '--import', FAULTY_LAYER];
    const worker = cli(['worker', '--queue', queue('imports'), '--workers', '1']);
    const [local, queued] = await Promise.all([
      cli(['label', ...custom, '--soft-labels', join(dir, 'custom-local.sl'), '--workers', '1']).exited,
      cli(['label', ...custom, '--soft-labels', join(dir, 'custom-queued.sl'), '--queue', queue('imports')]).exited,
    ]);
    expect(local.status, local.stderr).toBe(0);
    expect(queued.status, queued.stderr).toBe(0);
    await expectSameBytes(join(dir, 'custom-queued.sl'), join(dir, 'custom-local.sl'));
    expect(worker.stdout).toMatch(/teacher .*custom-layer-teacher on tfjs/);
    expect((await worker.stop('SIGTERM')).status).toBe(0);
  });

  it('a worker refuses a job of another protocol, saying which side is older', async () => {
    const old = new Queue('old', { connection: { host: '127.0.0.1', port } });
    await old.add('label', { protocol: 1, start: 0, end: 256 } as never, { jobId: 'label-old-0-256' });
    await old.close();
    const worker = await cli(['worker', '--queue', queue('old'), '--workers', '1']).exited;
    expect(errorLine(worker)).toBe(
      'tfjs-distill: error: refused a job: rows 0-255: the job is of protocol 1 (from an older tfjs-distill), this worker speaks 5; ' +
        'run the same tfjs-distill version on the coordinator and every worker',
    );
  });
});
