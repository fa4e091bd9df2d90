import * as tf from '@tensorflow/tfjs';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SweepReport } from '../dist/index.js';
import { saveModel } from '../dist/models/model-files.js';
import { digitRows, fitOnDigits } from './helpers/digits.js';
import { Cli, errorLine, freePort, hasRedis, killRedis, startRedis, until } from './helpers/queue-processes.js';

// Tiny trials: a few hundred digits, two students, two temperatures, two epochs.
const SWEEP = ['--data', 'mnist', '--limit', '400', '--epochs', '2', '--batch-size', '32', '--seed', '5', '--allow-weak-teacher'];
const GRID = ['--grid', 'temperature=1,4', '--grid', 'student=mlp:8,mlp:12'];
const WORKER = ['--workers', '1', '--stall-seconds', '2'];

let dir: string;
let teacher: string;
let redis: ChildProcess;
let port: number;
const url = (name: string) => `redis://127.0.0.1:${port}/${name}`;
const workers: Cli[] = [];
// Workers start in a folder of their own: the jobs' paths must not depend on the coordinator's.
const worker = (name: string) => {
  const started = new Cli(['worker', '--queue', url(name), ...WORKER], {}, tmpdir());
  workers.push(started);
  return started;
};

/** sweep.json without what differs by machine and run: timings, the store's path, the schedule. */
async function comparable(out: string) {
  const { labelling, schedule, trials, baselines, ...rest } = JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')) as SweepReport;
  const strip = <T extends { seconds: number; latencyMsBatch1: number }>({ seconds, latencyMsBatch1, ...result }: T) => result;
  expect(labelling.storeFile).toBe(join(out, 'soft-labels.sl'));
  return { ...rest, trials: trials.map(strip), baselines: baselines.map(strip), schedule: schedule.mode };
}

/** Every file a trial or best/ holds whose bytes must match: the students' and baselines' weights, and their trial.json. */
async function weightsOf(out: string, report: SweepReport) {
  const files: Record<string, Buffer> = {};
  for (const trial of report.trials) files[trial.folder] = await readFile(join(out, trial.folder, 'student', 'weights.bin'));
  for (const baseline of report.baselines) files[baseline.folder] = await readFile(join(out, baseline.folder, 'weights.bin'));
  files.best = await readFile(join(out, 'best', 'student', 'weights.bin'));
  return files;
}

beforeAll(async () => {
  if (!hasRedis) return;
  dir = await mkdtemp(join(tmpdir(), 'sweep-queue-'));
  port = await freePort();
  redis = await startRedis(port);
  // A teacher that knows something: a few epochs on the main thread, without shuffling (the same every run).
  const { train } = await digitRows(400, 10);
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28] }),
      tf.layers.dense({ units: 32, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
  await fitOnDigits(model, train, 3);
  teacher = join(dir, 'teacher');
  await saveModel(model, teacher);
});

afterAll(async () => {
  for (const started of workers) if (!started.exit) await started.stop('SIGKILL');
  if (redis) await killRedis(redis);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.runIf(hasRedis)('sweep --queue', () => {
  const local = () => join(dir, 'local');
  const queued = () => join(dir, 'queued');

  it('equals the local sweep, trial by trial and weight by weight, with a worker SIGKILLed mid-trial and its job retried', async () => {
    const alone = await new Cli([
      'sweep',
      ...SWEEP,
      ...GRID,
      '--teacher',
      teacher,
      '--workers',
      '2',
      '--schedule',
      'concurrent',
      '--out',
      local(),
    ]).exited;
    expect(alone.status, alone.stderr).toBe(0);

    // The coordinator is given relative paths, which the jobs carry made absolute.
    const coordinator = new Cli(
      ['sweep', ...SWEEP, ...GRID, '--teacher', 'teacher', '--workers', '2', '--queue', url('trials'), '--out', 'queued'],
      {},
      dir,
    );
    const doomed = worker('trials');
    await doomed.waitFor(/^trial \d+: started/m, 60_000);
    const killed = Number(/^trial (\d+): started/m.exec(doomed.stdout)![1]);
    await doomed.stop('SIGKILL');
    expect(doomed.stdout).not.toMatch(/: done in/); // it died mid-trial, before writing anything
    const survivor = worker('trials');
    const done = await coordinator.exited;
    expect(done.status, `${done.stdout}\n${done.stderr}\n${survivor.stdout}`).toBe(0);
    // The killed trial's job was taken over by the other worker once its lock ran out, and ran there whole.
    expect(survivor.stdout).toMatch(new RegExp(`^trial ${killed}: started \\(attempt \\d\\)`, 'm'));
    expect(survivor.stdout).toMatch(new RegExp(`^trial ${killed}: done in`, 'm'));
    expect(done.stdout.match(/^trial \d\/4 /gm)).toHaveLength(4);
    expect(done.stdout).toMatch(/schedule: queue on 1 worker\(s\): a job per trial on redis:\/\/127\.0\.0\.1:\d+\/trials/);

    const [a, b] = [await comparable(local()), await comparable(queued())];
    expect(a.schedule).toBe('concurrent');
    expect(b.schedule).toBe('queue');
    expect({ ...b, schedule: undefined }).toEqual({ ...a, schedule: undefined });
    const report = JSON.parse(await readFile(join(queued(), 'sweep.json'), 'utf8')) as SweepReport;
    expect(await weightsOf(queued(), report)).toEqual(await weightsOf(local(), report));
    expect(existsSync(join(queued(), 'sweep.html'))).toBe(true);
    // The survivor ran every trial (the doomed worker finished none): it measured the teacher once for them all.
    const reports = await Promise.all(
      report.trials.map(async (trial) => JSON.parse(await readFile(join(queued(), trial.folder, 'report.json'), 'utf8'))),
    );
    expect(reports[0].teacher.latencyMsBatch1).toBeGreaterThan(0);
    for (const trialReport of reports) expect(trialReport.teacher).toEqual(reports[0].teacher);
    // Redis holds nothing of the finished sweep.
    const queue = new Queue('trials', { connection: { host: '127.0.0.1', port } });
    expect(await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')).toEqual({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 0,
      failed: 0,
    });
    await queue.close();
  });

  it('--resume queues only the trials not finished in the shared folder; a worker stopped mid-trial hands it back', async () => {
    // Builds on the first test's queued sweep: without it, fail now rather than wait for workers that never come.
    expect(existsSync(join(queued(), 'sweep.json')), 'the identity test above writes the sweep this one resumes').toBe(true);
    // Everything finished: no job is queued, and no worker is needed.
    const all = await new Cli(['sweep', ...SWEEP, ...GRID, '--teacher', teacher, '--queue', url('trials'), '--out', queued(), '--resume'])
      .exited;
    expect(all.status, all.stderr).toBe(0);
    expect(all.stdout.match(/kept from the earlier sweep/g)).toHaveLength(4);

    const before = await weightsOf(queued(), JSON.parse(await readFile(join(queued(), 'sweep.json'), 'utf8')));
    await rm(join(queued(), 'trials', '002'), { recursive: true });
    const coordinator = new Cli([
      'sweep',
      ...SWEEP,
      ...GRID,
      '--teacher',
      teacher,
      '--queue',
      url('resume'),
      '--out',
      queued(),
      '--resume',
    ]);
    // A worker stopped mid-trial hands the job back at once, unfinished, and exits 0.
    const stopped = worker('resume');
    await stopped.waitFor(/^trial 2: started/m, 60_000);
    const exit = await stopped.stop('SIGTERM');
    expect(exit.status, exit.stderr).toBe(0);
    expect(exit.stdout).toMatch(/^trial 2: handed back to the queue, unfinished$/m);
    expect(exit.stdout).toMatch(/^stopped after 0 jobs; 1 unfinished, given back to the queue$/m);
    const helper = worker('resume');
    const done = await coordinator.exited;
    expect(done.status, done.stderr).toBe(0);
    expect(done.stdout.match(/kept from the earlier sweep/g)).toHaveLength(3);
    await until(() => /^trial 2: done in/m.test(helper.stdout), 'the worker to log trial 2 done');
    expect(helper.lines(/: started/)).toEqual([expect.stringMatching(/^trial 2: started \(attempt 1\)/)]);
    const report = JSON.parse(await readFile(join(queued(), 'sweep.json'), 'utf8')) as SweepReport;
    expect(await weightsOf(queued(), report)).toEqual(before);
  });

  it('an unreachable queue is one error line before the teacher labels', async () => {
    const out = join(dir, 'unreachable');
    const nobody = await freePort();
    const args = ['sweep', ...SWEEP, '--grid', 'temperature=1,4', '--teacher', teacher, '--out', out];
    const done = await new Cli([...args, '--queue', `redis://127.0.0.1:${nobody}/trials`]).exited;
    expect(errorLine(done)).toMatch(
      new RegExp(`^tfjs-distill: error: cannot connect to redis://127\\.0\\.0\\.1:${nobody}/trials: .*ECONNREFUSED`),
    );
    expect(existsSync(join(out, 'soft-labels.sl'))).toBe(false);
  });

  it('a worker that cannot read the soft-label store fails the job in one line; the coordinator names the trial and exits 1', async () => {
    const out = join(dir, 'unshared');
    const store = join(out, 'soft-labels.sl');
    const coordinator = new Cli([
      'sweep',
      ...SWEEP,
      '--grid',
      'temperature=1,4',
      '--teacher',
      teacher,
      '--queue',
      url('unshared'),
      '--out',
      out,
    ]);
    // Once the jobs are queued, the store leaves the path the workers were told: as if on this machine's disk only.
    const queue = new Queue('unshared', { connection: { host: '127.0.0.1', port } });
    await until(async () => (await queue.getWaitingCount()) === 2, 'the trial jobs to be queued', 60_000);
    await queue.close();
    await rename(store, `${store}.elsewhere`);
    const blind = worker('unshared');
    const done = await coordinator.exited;
    expect(errorLine(done)).toMatch(
      new RegExp(
        `^tfjs-distill: error: trial \\d failed on the queue after 1 attempt: cannot read the soft-label store ${store} on \\S+ \\(ENOENT\\); ` +
          'run the sweep with an out folder \\(and soft-label store\\) on a file system every worker reaches at the same path$',
      ),
    );
    await until(() => /: failed \(attempt 1\): cannot read the soft-label store/.test(blind.stdout), 'the worker to log the failure');
    expect(blind.lines(/failed/)[0]).toMatch(
      new RegExp(`^trial \\d: failed \\(attempt 1\\): cannot read the soft-label store ${store} on `),
    );
    // The sweep stopped: its other trial's job is not left for the workers.
    const after = new Queue('unshared', { connection: { host: '127.0.0.1', port } });
    expect(await after.getWaitingCount()).toBe(0);
    await after.close();
    const stopped = await blind.stop('SIGTERM');
    expect(stopped.status).toBe(0);
  });
});
