import * as tf from '@tensorflow/tfjs';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, saveModel } from '../dist/index.js';
import { Cli, errorLine, expectSameBytes, freePort, hasRedis, killRedis, startRedis, until } from './helpers/queue-processes.js';

// The faults of docs/distributed-labelling.md, "What happens on each fault", each against a real redis-server.
const ROWS = 2000;
const PASSWORD = 'fault-test-secret-91c2';
/** What the issue asks of every stop. */
const STOP_MS = 5000;

describe.skipIf(!hasRedis)('the labelling queue under faults', () => {
  let dir: string;
  let teacher: string;
  let slowTeacher: string;
  let single: string;
  const processes: Cli[] = [];
  const servers: ChildProcess[] = [];
  const cli = (args: string[], env?: NodeJS.ProcessEnv) => {
    const process = new Cli(args, env);
    processes.push(process);
    return process;
  };
  const redisOn = async (port: number) => {
    const server = await startRedis(port, PASSWORD);
    servers.push(server);
    return server;
  };
  const url = (port: number, queue: string) => `redis://:${PASSWORD}@127.0.0.1:${port}/${queue}`;
  const shown = (port: number, queue: string) => `redis://:***@127.0.0.1:${port}/${queue}`;
  const worker = (port: number, queue: string, ...extra: string[]) =>
    cli(['worker', '--queue', url(port, queue), '--workers', '1', '--stall-seconds', '2', ...extra]);
  const coordinator = (port: number, queue: string, { rows = ROWS, jobRows = 256, model = teacher, extra = [] as string[] } = {}) =>
    cli([
      'label',
      ...['--data', 'mnist', '--limit', String(rows), '--teacher', model],
      ...['--soft-labels', join(dir, `${queue}.sl`), '--queue', url(port, queue), '--job-rows', String(jobRows), ...extra],
    ]);
  const connectedClients = async (client: Redis) =>
    String(await client.client('LIST'))
      .trim()
      .split('\n').length;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-faults-'));
    await tf.setBackend('cpu');
    teacher = join(dir, 'teacher');
    await saveModel(buildModel('cnn:8,16', { inputShape: [28, 28], numClasses: 10, seed: 3 }), teacher);
    // Big enough that a job of it is still running when the test stops its worker.
    slowTeacher = join(dir, 'slow-teacher');
    await saveModel(buildModel('cnn:32,64', { inputShape: [28, 28], numClasses: 10, seed: 3 }), slowTeacher);
    single = join(dir, 'single.sl');
    const local = await cli(['label', '--data', 'mnist', '--limit', String(ROWS), '--teacher', teacher, '--soft-labels', single]).exited;
    expect(local.status, local.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const process of processes) process.child.kill('SIGKILL');
    for (const server of servers) server.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGTERM and SIGINT stop an idle worker within 5 s, exit 0, its connections closed', async () => {
    const port = await freePort();
    await redisOn(port);
    const client = new Redis({ port, host: '127.0.0.1', password: PASSWORD });
    try {
      const alone = await connectedClients(client);
      const [a, b] = [worker(port, 'idle'), worker(port, 'idle')];
      await Promise.all([a.waitFor(/ready: 1 worker thread/), b.waitFor(/ready: 1 worker thread/)]);
      expect(await connectedClients(client)).toBeGreaterThan(alone);
      for (const [process, signal] of [
        [a, 'SIGTERM'],
        [b, 'SIGINT'],
      ] as const) {
        const exit = await process.stop(signal);
        expect(exit.ms).toBeLessThan(STOP_MS);
        expect(exit.status, exit.stderr).toBe(0);
        expect(exit.stdout).toMatch(/stopped after 0 jobs\n$/);
      }
      await until(async () => (await connectedClients(client)) === alone, 'the workers to close their connections', 5000);
    } finally {
      client.disconnect();
    }
  });

  it('SIGTERM stops a busy worker within 5 s, handing its job back; SIGTERM stops the coordinator, the job kept', async () => {
    const port = await freePort();
    await redisOn(port);
    // One big job (every bundled training row), on a big teacher run by tfjs: it is still running when the signal lands.
    const run = coordinator(port, 'busy', { rows: 8192, jobRows: 8192, model: slowTeacher, extra: ['--teacher-runtime', 'tfjs'] });
    const busy = worker(port, 'busy');
    await busy.waitFor(/rows 0-7995: started \(attempt 1\)/, 60_000);
    const exit = await busy.stop('SIGTERM');
    expect(exit.ms).toBeLessThan(STOP_MS);
    expect(exit.status, exit.stderr).toBe(0);
    expect(exit.stdout).toMatch(/rows 0-7995: handed back to the queue, unfinished/);
    expect(exit.stdout).toMatch(/stopped after 0 jobs; 1 unfinished, given back to the queue\n$/);
    const client = new Redis({ port, host: '127.0.0.1', password: PASSWORD });
    try {
      // Back in the wait list at once (not left to stall), with no attempt spent.
      const [id] = await client.lrange('bull:busy:wait', 0, -1);
      expect(id).toMatch(/^label-\w+-\w+-0-7996$/);
      expect(Number((await client.hget(`bull:busy:${id}`, 'attemptsMade')) ?? 0)).toBe(0);
      const stopped = await run.stop('SIGTERM');
      expect(stopped.ms).toBeLessThan(STOP_MS);
      expect(stopped.status).toBe(130);
      expect(stopped.stderr).toMatch(/tfjs-distill: stopped while the workers labelled; the jobs done so far stay for the next run\n$/);
      expect(await client.lrange('bull:busy:wait', 0, -1)).toEqual([id]);
    } finally {
      client.disconnect();
    }
  });

  it('a worker whose Redis was killed says so once, without a flood, and stops within 5 s of SIGTERM; so does a coordinator', async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const lonely = worker(port, 'lonely');
    const run = coordinator(port, 'lonely-jobs');
    const client = new Redis({ port, host: '127.0.0.1', password: PASSWORD, lazyConnect: true });
    await client.connect();
    await until(async () => (await client.llen('bull:lonely-jobs:wait')) === 8, 'the coordinator to queue its jobs');
    client.disconnect();
    await lonely.waitFor(/ready: 1 worker thread/);
    await killRedis(redis);
    const lost = new RegExp(`lost the connection to ${shown(port, 'lonely').replace(/[*.]/g, '\\$&')}; retrying for up to 600 s`);
    await Promise.all([lonely.waitFor(lost), run.waitFor(/lost the connection to /, 30_000, 'stderr')]);
    // Several of BullMQ's and ioredis' retries later: still that one line.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const [exit, stopped] = await Promise.all([lonely.stop('SIGTERM'), run.stop('SIGTERM')]);
    expect(exit.ms).toBeLessThan(STOP_MS);
    expect(exit.status, exit.stderr).toBe(0);
    expect(lonely.lines(/lost the connection/)).toHaveLength(1);
    expect(lonely.lines(/queue error|ECONNREFUSED/)).toEqual([]);
    expect(lonely.stdout + lonely.stderr).not.toContain(PASSWORD);
    expect(stopped.ms).toBeLessThan(STOP_MS);
    expect(stopped.status).toBe(130);
    expect(run.lines(/lost the connection/)).toHaveLength(1);
    expect(run.lines(/ECONNREFUSED/)).toEqual([]);
  });

  it('--queue-timeout stops a worker and a coordinator with one error line once Redis is gone that long', async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const run = coordinator(port, 'timeout', { extra: ['--queue-timeout', '2'] });
    const idle = worker(port, 'timeout-other', '--queue-timeout', '2');
    await idle.waitFor(/ready: 1 worker thread/);
    const client = new Redis({ port, host: '127.0.0.1', password: PASSWORD, lazyConnect: true });
    await client.connect();
    await until(async () => (await client.llen('bull:timeout:wait')) === 8, 'the coordinator to queue its jobs');
    client.disconnect();
    await killRedis(redis);
    const gaveUp = (queue: string) =>
      `gave up on ${shown(port, queue)}: unreachable for 2 s (--queue-timeout); start Redis again and rerun, or wait longer with a larger --queue-timeout`;
    const [coordinatorExit, workerExit] = await Promise.all([run.exited, idle.exited]);
    expect(errorLine(coordinatorExit)).toBe(`tfjs-distill: error: ${gaveUp('timeout')}`);
    expect(errorLine(workerExit)).toBe(`tfjs-distill: error: ${gaveUp('timeout-other')}`);
    expect(run.lines(/lost the connection/)).toEqual([
      `tfjs-distill: lost the connection to ${shown(port, 'timeout')}; retrying for up to 2 s`,
    ]);
    expect(idle.lines(/lost the connection/)).toHaveLength(1);
  });

  it('Redis killed mid-labelling and restarted empty: the coordinator queues the lost jobs again, the store is byte-identical', async () => {
    const port = await freePort();
    const first = await redisOn(port);
    const labelling = worker(port, 'restart');
    await labelling.waitFor(/ready: 1 worker thread/);
    const run = coordinator(port, 'restart');
    await labelling.waitFor(/rows \d+-\d+: started/);
    await killRedis(first);
    await run.waitFor(/lost the connection to /, 30_000, 'stderr');
    await redisOn(port); // empty: no jobs, no results
    const exit = await run.exited;
    expect(exit.status, exit.stderr).toBe(0);
    expect(exit.stdout).toMatch(/labelled 2,000 rows in 8 jobs/);
    await expectSameBytes(join(dir, 'restart.sl'), single);
    // Each side said it once: lost, then back.
    expect(run.lines(/lost the connection/)).toHaveLength(1);
    expect(run.lines(/the connection to .* is back after \d+ s/)).toHaveLength(1);
    await labelling.waitFor(/the connection to .* is back after \d+ s/);
    expect(labelling.lines(/lost the connection/)).toHaveLength(1);
    const stopped = await labelling.stop('SIGTERM');
    expect(stopped.status).toBe(0);
  });
});
