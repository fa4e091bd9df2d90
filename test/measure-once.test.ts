import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, buildModel } from '../dist/index.js';
import { distillOnKeptPools } from '../dist/distill/distill.js';
import { type MeasureOnce, measureBeforeRuns, measureEveryTime, measuredOnce } from '../dist/distill/measure-once.js';
import { saveModel } from '../dist/models/model-files.js';
import { PoolKeeper } from '../dist/pool/pool-keeper.js';
import { digitRows, fitOnDigits } from './helpers/digits.js';

describe('measuredOnce', () => {
  it('makes one measurement per key, shared by requests made while it runs and after', async () => {
    const once = measuredOnce();
    let made = 0;
    const measure = async () => {
      made++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return made;
    };
    const [first, second] = await Promise.all([once('a', measure), once('a', measure)]);
    expect([first, second, await once('a', measure)]).toEqual([1, 1, 1]);
    expect(await once('b', measure)).toBe(2);
    expect(made).toBe(2);
  });

  it('drops a failed measurement, so that the next request makes it again', async () => {
    const once = measuredOnce();
    await expect(once('a', () => Promise.reject(new Error('a worker failed')))).rejects.toThrow('a worker failed');
    expect(await once('a', async () => 7)).toBe(7);
  });

  it('hands a failed measurement only to the request that made it: those waiting for it measure for themselves', async () => {
    const once = measuredOnce();
    let fail!: (error: Error) => void;
    const maker = once('a', () => new Promise<number>((_, reject) => (fail = reject)));
    let made = 0;
    const measure = async () => {
      made++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return 7;
    };
    const waiters = [once('a', measure), once('a', measure)];
    fail(new Error("the maker's pool failed"));
    await expect(maker).rejects.toThrow("the maker's pool failed");
    // One waiter measures again, the other waits for it; the measurement is kept.
    expect(await Promise.all(waiters)).toEqual([7, 7]);
    expect(made).toBe(1);
    expect(await once('a', () => Promise.reject(new Error('not kept')))).toBe(7);
  });

  it('a lone run measures every time', async () => {
    let made = 0;
    const measure = async () => ++made;
    expect([await measureEveryTime('a', measure), await measureEveryTime('a', measure)]).toEqual([1, 2]);
  });
});

describe('measureBeforeRuns', () => {
  let train: Dataset;
  let test: Dataset;
  let dir: string;
  let teacherFile: string;
  const model = (spec: string, seed: number) => buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed });
  /** A run of `student` on `workers` workers, one thread each, its store in the test's folder. */
  const runOptions = (student: ReturnType<typeof model>, workers: number) => ({
    teacher: teacherFile,
    student,
    train,
    test,
    epochs: 1,
    batchSize: 64,
    workers,
    threadsPerWorker: 1,
    softLabels: join(dir, 'store.sl'),
    allowWeakTeacher: true,
  });

  beforeAll(async () => {
    ({ train, test } = await digitRows(400, 100));
    dir = await mkdtemp(join(tmpdir(), 'measure-once-'));
    const teacher = model('mlp:32', 5);
    await fitOnDigits(teacher, train, 3);
    teacherFile = join(dir, 'teacher');
    await saveModel(teacher, teacherFile);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('measures the teacher as a run would, so that the run after it reports that measurement and times only its student', async () => {
    const shared = measuredOnce();
    const keys: string[] = [];
    const made: string[] = [];
    // Records every request and every measurement actually made.
    const once: MeasureOnce = (key, measure) => {
      keys.push(key);
      return shared(key, () => {
        made.push(key);
        return measure();
      });
    };
    // One student model, as a sweep builds each architecture once: its layers' names are part of its topology.
    const student = model('mlp:8', 1);
    const options = (workers: number) => runOptions(student, workers);
    const pools = new PoolKeeper();
    try {
      await measureBeforeRuns(options(2), pools, once);
      expect(made.map((key) => key.split(':')[0])).toEqual(['teacher']);
      const run = await distillOnKeptPools(options(1), pools, once);
      // The run asked for the teacher's figures and was answered from the measurement before it; it timed its student.
      expect(keys.slice(1).map((key) => key.split(':')[0])).toEqual(['teacher', 'latency']);
      expect(made.map((key) => key.split(':')[0])).toEqual(['teacher', 'latency']);
      const teacher = (await shared(made[0], () => Promise.reject(new Error('not kept')))) as { report: unknown };
      expect(run.report.teacher).toEqual(teacher.report);
      const latency = await shared(made[1], () => Promise.reject(new Error('not kept')));
      expect([run.report.student.latencyMsBatch1, run.report.student.latencyMsBatch256]).toEqual(latency);
      // The same run alone measures for itself.
      const alone = await distillOnKeptPools(options(1), pools, measureEveryTime);
      expect(alone.report.teacher?.accuracy).toBe(run.report.teacher?.accuracy);
      for (const result of [run, alone]) {
        result.student.dispose();
        result.teacher?.dispose();
      }
    } finally {
      await pools.close();
    }
  });

  it("times a student's latency before the runs, so that a run of that architecture reports it and times nothing itself", async () => {
    const shared = measuredOnce();
    const made: string[] = [];
    const once: MeasureOnce = (key, measure) =>
      shared(key, () => {
        made.push(key);
        return measure();
      });
    // Built once, as a sweep builds each architecture: the run trains this model, the measurement times it untrained.
    const student = model('mlp:8', 2);
    const options = runOptions(student, 1);
    const pools = new PoolKeeper();
    try {
      await measureBeforeRuns(options, pools, once, { teacher: false, students: [student] });
      expect(made.map((key) => key.split(':')[0])).toEqual(['latency']);
      await measureBeforeRuns(options, pools, once, { students: [] });
      const run = await distillOnKeptPools(options, pools, once);
      // Nothing measured by the run: the teacher and the student's architecture were measured before it.
      expect(made.map((key) => key.split(':')[0])).toEqual(['latency', 'teacher']);
      const latency = await shared(made[0], () => Promise.reject(new Error('not kept')));
      expect([run.report.student.latencyMsBatch1, run.report.student.latencyMsBatch256]).toEqual(latency);
      expect(run.report.student.latencyMsBatch1).toBeGreaterThan(0);
      run.student.dispose();
      run.teacher?.dispose();
    } finally {
      await pools.close();
    }
  });
});
