import * as tf from '@tensorflow/tfjs';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogitTable } from '../dist/data/logit-table.js';
import { mergeShards, writeShard } from '../dist/data/soft-label-shards.js';
import { readSoftLabels } from '../dist/data/soft-label-store.js';
import { label, shardFile, shardRows } from '../dist/labelling/label.js';
import { parseQueueUrl, redactUrl } from '../dist/queue/queue-connection.js';
import { buildModel, loadMnist, saveModel, takeRows } from '../dist/index.js';
import { Cli, errorLine, expectSameBytes, freePort, hasRedis, startRedis, storeParts } from './helpers/queue-processes.js';

const ROWS = 2000;
const DATA = ['--data', 'mnist', '--limit', String(ROWS)];
const PASSWORD = 'not-a-real-secret-7f3a';

let dir: string;
let teacher: string;
let single: string;

const run = (args: string[], env?: NodeJS.ProcessEnv) => new Cli(args, env).exited;

async function headerOf(file: string) {
  const bytes = await readFile(file);
  return JSON.parse(bytes.toString('utf8', 12, 12 + bytes.readUInt32LE(8)));
}

async function expectSameStore(file: string, reference: string) {
  await expectSameBytes(file, reference);
  const b = await storeParts(reference);
  // And decoded: the same logits under the same key.
  const [x, y] = [LogitTable.create(ROWS, 10), LogitTable.create(ROWS, 10)];
  expect((await readSoftLabels(file, x, b.header.key, { kind: 'float32' })).ok).toBe(true);
  expect((await readSoftLabels(reference, y, b.header.key, { kind: 'float32' })).ok).toBe(true);
  expect(Buffer.from(x.values.buffer).equals(Buffer.from(y.values.buffer))).toBe(true);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-scale-'));
  await tf.setBackend('cpu');
  teacher = join(dir, 'teacher');
  await saveModel(buildModel('cnn:8,16', { inputShape: [28, 28], numClasses: 10, seed: 3 }), teacher);
  single = join(dir, 'single.sl');
  const result = await run(['label', ...DATA, '--teacher', teacher, '--soft-labels', single, '--workers', '2']);
  expect(result.status, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/labelled 2,000 rows \(every row\)/);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('shards', () => {
  it('cut the batches into contiguous runs that cover every row once', () => {
    for (const [rows, count] of [
      [2000, 3],
      [60_000, 7],
      [300, 5],
      [1, 1],
    ]) {
      const ranges = Array.from({ length: count }, (_, index) => shardRows(rows, { index, count }));
      expect(ranges[0][0]).toBe(0);
      expect(ranges[count - 1][1]).toBe(rows);
      for (let i = 1; i < count; i++) expect(ranges[i][0]).toBe(ranges[i - 1][1]);
      for (const [start] of ranges) expect(start % 256).toBe(0);
    }
    // More shards than batches: some hold no rows, which the merge accepts.
    expect(shardRows(300, { index: 0, count: 5 })).toEqual([0, 0]);
    expect(shardRows(300, { index: 2, count: 5 })).toEqual([0, 256]);
  });

  it('3 of 3 labelled apart (auto/N from JOB_COMPLETION_INDEX and SLURM_ARRAY_TASK_ID) merge into the single run store', async () => {
    const stem = join(dir, 'sharded.sl');
    const label = (shard: string, env: NodeJS.ProcessEnv = {}) =>
      run(['label', ...DATA, '--teacher', teacher, '--soft-labels', stem, '--shard', shard, '--workers', '1'], env);
    const results = await Promise.all([
      label('auto/3', { JOB_COMPLETION_INDEX: '0', SLURM_ARRAY_TASK_ID: '' }),
      label('auto/3', { SLURM_ARRAY_TASK_ID: '1', JOB_COMPLETION_INDEX: '' }),
      label('2/3'),
    ]);
    for (const result of results) expect(result.status, result.stderr).toBe(0);
    expect(results[1].stdout).toMatch(/shard 1\/3, rows 512-1279 of 2,000/);
    const shards = [0, 1, 2].map((k) => `${stem}.shard-${k}-of-3`);
    const header = await storeParts(shards[2]);
    expect(header.magic).toBe('TFDSHRD1');
    const { key } = (await storeParts(single)).header;
    expect(header.header).toMatchObject({ key, encoding: { kind: 'float32' }, rows: ROWS, start: 1280, end: 2000 });
    expect(header.header.teacherKey).toMatch(/^[0-9a-f]{16}$/);
    expect(header.header.dataKey).toMatch(/^[0-9a-f]{16}$/);

    const merged = join(dir, 'merged.sl');
    const result = await run(['merge', merged, shards[2], shards[0], shards[1]]); // any order
    expect(result.status, result.stderr).toBe(0);
    await expectSameStore(merged, single);
    // The merged store records the shards' labelling time, summed.
    const seconds = await Promise.all(shards.map(async (s) => (await headerOf(s)).labelSeconds));
    expect((await headerOf(merged)).labelSeconds).toBeCloseTo(
      seconds.reduce((a, b) => a + b, 0),
      9,
    );

    // A gap names its rows, and nothing is written.
    const gap = await run(['merge', join(dir, 'gap.sl'), shards[0], shards[2]]);
    expect(errorLine(gap)).toBe('tfjs-distill: error: the shards do not cover every row exactly once: rows 512-1279 are in no shard');
    // A shard relabelled is reused, not labelled again.
    const again = await label('1/3');
    expect(again.stdout).toMatch(/already holds these labels \(shard 1\/3/);
  });

  it('top-k shards (the library API) merge into the top-k store one run writes', async () => {
    const train = takeRows((await loadMnist()).train, 700);
    const model = buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 5 });
    const common = { teacher: model, train, softLabelTopK: 3, temperature: 2, workers: 1, backend: 'wasm' } as const;
    const whole = join(dir, 'top3.sl');
    const one = await label({ ...common, softLabels: whole });
    expect(one).toMatchObject({ range: [0, 700], reused: false, encoding: 'top-3 at temperature 2' });
    const stem = join(dir, 'top3-sharded.sl');
    for (const index of [0, 1]) {
      const part = await label({ ...common, softLabels: stem, shard: { index, count: 2 } });
      expect(part.file).toBe(shardFile(stem, { index, count: 2 }));
      expect(part.range).toEqual(index === 0 ? [0, 256] : [256, 700]);
    }
    const merged = join(dir, 'top3-merged.sl');
    await mergeShards(merged, [shardFile(stem, { index: 0, count: 2 }), shardFile(stem, { index: 1, count: 2 })]);
    const [a, b] = [await storeParts(merged), await storeParts(whole)];
    expect(a.header).toEqual(b.header);
    expect(a.body.equals(b.body)).toBe(true);
  });

  it('overlaps, other teachers and other encodings are refused, naming the rows or the files', async () => {
    const table = LogitTable.create(1000, 4);
    table.values.fill(1);
    const write = (name: string, start: number, end: number, key = 'k', encoding: object = { kind: 'float32' }) => {
      const meta = { key, teacherKey: `t-${key}`, dataKey: 'd', encoding, start, end, shard: { index: 0, count: 1 }, labelSeconds: 1 };
      return writeShard(join(dir, name), table, meta as never).then(() => join(dir, name));
    };
    const a = await write('a', 0, 512);
    const b = await write('b', 256, 1000);
    await expect(mergeShards(join(dir, 'o.sl'), [a, b])).rejects.toThrow(`rows 256-511 are in both ${a} and ${b}`);
    const c = await write('c', 512, 1000, 'other');
    await expect(mergeShards(join(dir, 'o.sl'), [a, c])).rejects.toThrow(/come from different teachers \(keys other and k\)/);
    const d = await write('d', 512, 1000, 'k', { kind: 'top-k', k: 2, temperature: 4 });
    await expect(mergeShards(join(dir, 'o.sl'), [a, d])).rejects.toThrow(/encoded differently/);
    const e = await write('e', 512, 999);
    await expect(mergeShards(join(dir, 'o.sl'), [a, e])).rejects.toThrow('row 999 is in no shard');
    await expect(mergeShards(join(dir, 'o.sl'), [a, join(dir, 'missing')])).rejects.toThrow(/missing cannot be merged: no such file/);
  });

  it('--shard auto/N needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID, in range', async () => {
    const label = (env: NodeJS.ProcessEnv) =>
      run(['label', ...DATA, '--teacher', teacher, '--soft-labels', join(dir, 'x.sl'), '--shard', 'auto/4'], {
        JOB_COMPLETION_INDEX: '',
        SLURM_ARRAY_TASK_ID: '',
        ...env,
      });
    const [none, outside] = await Promise.all([label({}), label({ SLURM_ARRAY_TASK_ID: '4' })]);
    expect(errorLine(none)).toMatch(/JOB_COMPLETION_INDEX .* or SLURM_ARRAY_TASK_ID .*neither is set; give --shard K\/N$/);
    expect(errorLine(outside)).toMatch(/SLURM_ARRAY_TASK_ID=4 is not a shard index in \[0, 4\); submit with --array=0-3$/);
  });
});

describe('queue URLs', () => {
  it('read host, port, database, queue, TLS and password, and never show the password', () => {
    const address = parseQueueUrl('rediss://me:p%40ss@cache.internal:6380/2/digits');
    expect(address.name).toBe('digits');
    expect(address.connection).toMatchObject({ host: 'cache.internal', port: 6380, db: 2, username: 'me', password: 'p@ss' });
    expect(address.connection.tls).toEqual({ servername: 'cache.internal' });
    expect(address.shown).toBe('rediss://me:***@cache.internal:6380/2/digits');
    expect(parseQueueUrl('redis://h/q', { TFJS_DISTILL_QUEUE_PASSWORD: 'x' }).connection.password).toBe('x');
    expect(redactUrl('redis://:secret@h:1/q')).toBe('redis://:***@h:1/q');
    expect(() => parseQueueUrl('redis://:secret@h:1/')).toThrow('queue redis://:***@h:1/ has no NAME after the port');
    expect(() => parseQueueUrl('http://h/q')).toThrow(/not a redis:\/\/ or rediss:\/\/ URL/);
  });
});

describe.skipIf(!hasRedis)('the labelling queue (BullMQ on a local redis-server)', () => {
  let redis: ChildProcess;
  let port: number;
  const processes: Cli[] = [];
  const start = (args: string[], env?: NodeJS.ProcessEnv) => {
    const cli = new Cli(args, env);
    processes.push(cli);
    return cli;
  };

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port, PASSWORD);
  });

  afterAll(async () => {
    for (const cli of processes) cli.child.kill('SIGKILL');
    redis?.kill('SIGTERM');
  });

  // Workers take the password from the environment, the coordinator from the URL: both must work.
  const workerEnv = { TFJS_DISTILL_QUEUE_PASSWORD: PASSWORD };
  const worker = (queue: string) =>
    start(['worker', '--queue', `redis://127.0.0.1:${port}/${queue}`, '--workers', '1', '--stall-seconds', '2'], workerEnv);
  const coordinator = (queue: string, teacherPath = teacher) =>
    start([
      'label',
      ...DATA,
      '--teacher',
      teacherPath,
      '--soft-labels',
      join(dir, `${queue}.sl`),
      '--queue',
      `redis://:${PASSWORD}@127.0.0.1:${port}/${queue}`,
      '--job-rows',
      '256',
    ]);

  it('worker processes, one SIGKILLed mid-job, and a coordinator restarted give the single-process store', async () => {
    const first = coordinator('digits');
    const victim = worker('digits');
    await victim.waitFor(/rows \d+-\d+: started/);
    victim.child.kill('SIGKILL'); // its job stays active, locked, until the lock runs out
    const lost = /rows (\d+-\d+): started/.exec(victim.stdout)![1];
    first.child.kill('SIGKILL'); // and the coordinator dies too: the queued jobs outlive it

    const workers = [worker('digits'), worker('digits')];
    await Promise.race(workers.map((w) => w.waitFor(/: done in/)));
    const second = await coordinator('digits').exited;
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/labelled 2,000 rows in 8 jobs, [1-8] of them done before this run/);
    await expectSameStore(join(dir, 'digits.sl'), single);
    // The lost job was taken over after its lock ran out, and labelled once more (unless, against the odds,
    // the victim had finished it before the kill landed).
    if (!victim.stdout.includes(`rows ${lost}: done`)) expect(workers.map((w) => w.stdout).join('')).toContain(`rows ${lost}: done`);

    for (const w of workers) w.child.kill('SIGTERM');
    for (const w of workers) {
      const exit = await w.exited;
      expect(exit.status).toBe(0);
      expect(exit.stdout).toMatch(/stopped after \d+ jobs?/);
    }
    // Nothing left behind in Redis, and no secret in any output.
    const client = new Redis({ port, host: '127.0.0.1', password: PASSWORD });
    expect(await client.keys('tfjs-distill:*')).toEqual([]);
    await client.quit();
    for (const cli of [first, victim, ...workers]) expect(cli.stdout + cli.stderr).not.toContain(PASSWORD);
    expect(second.stdout + second.stderr).not.toContain(PASSWORD);
  });

  it('a worker whose teacher differs from the coordinator refuses the job, and the run stops naming the rows', async () => {
    const other = join(dir, 'teacher-copy');
    await cp(teacher, other, { recursive: true });
    const run = coordinator('refused', other);
    // Once the jobs are queued, the teacher at that path changes under the workers' feet.
    const client = new Redis({ port, host: '127.0.0.1', password: PASSWORD });
    for (let i = 0; (await client.llen('bull:refused:wait')) < 8; i++) {
      expect(i).toBeLessThan(600);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await client.quit();
    await saveModel(buildModel('cnn:8,16', { inputShape: [28, 28], numClasses: 10, seed: 4 }), other);
    const refusing = await worker('refused').exited;
    expect(errorLine(refusing)).toMatch(
      /refused a job: rows 0-255: the teacher .*teacher-copy here hashes to \w+, the coordinator's to \w+/,
    );
    const stopped = await run.exited;
    expect(errorLine(stopped)).toMatch(
      /the job for rows 0-255 failed after 1 attempt: refused by a worker: rows 0-255: the teacher .* here hashes to/,
    );
  });
});
