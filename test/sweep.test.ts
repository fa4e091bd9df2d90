import type * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_SWEEP_VALIDATION,
  type Dataset,
  DistillCancelledError,
  DistillError,
  type DistillReport,
  type MeasureOnce,
  type SweepBaseline,
  type SweepReport,
  type SweepTrial,
  buildModel,
  checkGrid,
  chooseBest,
  distill,
  gridPoints,
  measuredOnce,
  parseGridFlags,
  sweep,
  sweepNotices,
} from '../dist/index.js';
import { loadModel, saveModel } from '../dist/models/model-files.js';
import { mixSeed } from '../dist/random.js';
import { PROBE_MAX_STEPS, PROBE_MIN_STEPS, PROBE_ROUNDS, PROBE_SHARE, chooseSchedule, probeSteps } from '../dist/sweep/schedule.js';
import { runCli } from './helpers/cli.js';
import { digitRows, fitOnDigits } from './helpers/digits.js';

let train: Dataset;
let test: Dataset;
let dir: string;
const model = (spec: string, seed: number) => buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed });
let teacherFile: string;

beforeAll(async () => {
  ({ train, test } = await digitRows(600, 200));
  dir = await mkdtemp(join(tmpdir(), 'sweep-'));
  // A teacher that knows something: a few epochs on the main thread.
  const teacher = model('mlp:32', 5);
  await fitOnDigits(teacher, train, 4);
  teacherFile = join(dir, 'teacher');
  await saveModel(teacher, teacherFile);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const messageOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DistillError);
    return (error as Error).message;
  }
  throw new Error('no error');
};

describe('the grid', () => {
  it('reads --grid flags: typed values, repeated keys adding values, architectures keeping their commas', () => {
    expect(parseGridFlags(['temperature=1,2,4', 'alpha=0.5', 'alpha=0.9', 'student=mlp:128,64,mlp:32', 'loss=kd,dkd'])).toEqual({
      temperature: [1, 2, 4],
      alpha: [0.5, 0.9],
      student: ['mlp:128,64', 'mlp:32'],
      loss: ['kd', 'dkd'],
    });
    expect(messageOf(() => parseGridFlags(['temperature']))).toMatch(/grid 'temperature' must be KEY=V1,V2/);
    expect(messageOf(() => parseGridFlags(['temperature=1,,2']))).toMatch(/empty value/);
  });

  it('refuses unknown keys with a suggestion, fixed keys, bad values by their option, empty grids and lists', () => {
    expect(messageOf(() => checkGrid({ temprature: [1, 2] }, {}))).toBe(
      "grid key 'temprature' is not an option; did you mean 'temperature'?",
    );
    expect(messageOf(() => checkGrid({ workers: [1, 2] }, {}))).toMatch(/'workers' is an option a sweep holds fixed/);
    expect(messageOf(() => checkGrid({ alpha: [0.5, 2] }, {}))).toMatch(/^grid alpha value 2: alpha/);
    expect(messageOf(() => checkGrid({ temperature: [1, -1] }, {}))).toMatch(/^grid temperature value -1: temperature/);
    expect(messageOf(() => checkGrid({ loss: ['kd', 'kl'] }, {}))).toMatch(/^grid loss value "kl"/);
    expect(messageOf(() => checkGrid({ student: ['mlp:16', 'mpl:32'] }, {}))).toMatch(/'mpl:32' is not an architecture/);
    expect(messageOf(() => checkGrid({}, {}))).toMatch(/grid is empty/);
    expect(messageOf(() => checkGrid({ alpha: [] }, {}))).toMatch(/grid alpha has no values/);
    expect(messageOf(() => checkGrid({ alpha: 0.5 }, {}))).toMatch(/grid alpha must be a list/);
    expect(messageOf(() => checkGrid({ alpha: [0.5, 0.5] }, {}))).toMatch(/lists a value twice/);
    expect(messageOf(() => checkGrid({ 'optimizer.learningRat': [0.1] }, {}))).toMatch(/optimizer takes/);
    expect(checkGrid({ 'optimizer.learningRate': [0.01, 0.1] }, {})).toEqual({ 'optimizer.learningRate': [0.01, 0.1] });
  });

  it('makes every point in grid order, or a seeded sample of them; more trials than points is an error', () => {
    const grid = { temperature: [1, 2, 4], alpha: [0.5, 0.9] };
    const all = gridPoints(grid, null, 1);
    expect(all).toHaveLength(6);
    expect(all[0]).toEqual({ temperature: 1, alpha: 0.5 });
    expect(all[1]).toEqual({ temperature: 1, alpha: 0.9 });
    const sample = gridPoints(grid, 3, 7);
    expect(sample).toHaveLength(3);
    expect(gridPoints(grid, 3, 7)).toEqual(sample);
    expect(new Set(sample.map((p) => JSON.stringify(p))).size).toBe(3);
    expect(sample.every((p) => all.some((q) => JSON.stringify(q) === JSON.stringify(p)))).toBe(true);
    expect(messageOf(() => gridPoints(grid, 7, 1))).toMatch(/trials 7 is more than the grid's 6 points/);
  });

  it('refuses a bad grid before anything is labelled', async () => {
    const out = join(dir, 'refused');
    const base = { teacher: teacherFile, student: 'mlp:8', train, test, out, workers: 1 };
    await expect(sweep({ ...base, grid: { temperature: [1, 0] } })).rejects.toThrow(/grid temperature value 0/);
    await expect(sweep({ ...base, grid: { alpha: [0.5] }, trials: 2 })).rejects.toThrow(/trials 2 is more than the grid's 1 points/);
    await expect(sweep({ ...base, grid: {} })).rejects.toThrow(/grid is empty/);
    await expect(sweep({ ...base, grid: { alpha: [0.5] }, validation: 600 })).rejects.toThrow(/validation 600 leaves 600 of the 600/);
    await expect(sweep({ ...base, grid: { student: ['mlp:8', 'bag:8'] } })).rejects.toThrow(/bag/);
    await expect(sweep({ ...base, teacher: model('mlp:8', 1), teacherEpochs: 2, grid: { alpha: [0.5] } })).rejects.toThrow(
      /sweep labels once with a trained teacher/,
    );
    expect(existsSync(out)).toBe(false); // nothing written, nothing labelled
  });
});

describe('choosing on validation', () => {
  const result = (validationAccuracy: number, testAccuracy: number) => ({
    student: 'mlp:8',
    validationAccuracy,
    testAccuracy,
    agreement: null,
    params: 1,
    bytes: 4,
    latencyMsBatch1: 0.1,
    folder: '',
    seconds: 1,
  });
  const trial = (index: number, settings: Record<string, unknown>, validation: number, testAccuracy: number): SweepTrial => ({
    ...result(validation, testAccuracy),
    index,
    settings,
    baseline: 0,
  });

  it('picks the best validation accuracy, whatever the test accuracy says', () => {
    const trials = [
      trial(0, { temperature: 1 }, 0.8, 0.95),
      trial(1, { temperature: 2 }, 0.9, 0.7),
      trial(2, { temperature: 4 }, 0.9, 0.99),
    ];
    expect(chooseBest(trials)).toBe(1); // the first of the best on validation; trial 2's higher test accuracy plays no part
    expect(chooseBest([])).toBeNull();
  });

  it('says in one line when the chosen trial does not beat its baseline, naming the closest settings', () => {
    const baselines: SweepBaseline[] = [result(0.92, 0.9)];
    const trials = [trial(0, { temperature: 4, alpha: 0.9 }, 0.88, 0.9), trial(1, { temperature: 1, alpha: 0.5 }, 0.91, 0.8)];
    const notices = sweepNotices(trials, baselines, chooseBest(trials));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/did not beat the hard-label baseline on validation/);
    expect(notices[0]).toMatch(/closest: trial 1 \(temperature=1 alpha=0.5\), -1.0 points/);
    expect(sweepNotices([trial(0, {}, 0.95, 0.9)], baselines, 0)).toEqual([]);
  });
});

describe('sweep() on the bundled digits', () => {
  const grid = { temperature: [1, 4], student: ['mlp:8', 'mlp:12'] };
  const options = (out: string) => ({
    teacher: teacherFile,
    student: 'mlp:8',
    train,
    test,
    grid,
    epochs: 1,
    batchSize: 64,
    workers: 1,
    seed: 3,
    out,
    schedule: 'data-parallel' as const,
  });
  /** A sweep's MeasureOnce that records the kind of each measurement made (`made`), each made through `make`. */
  const recordingOnce = (make: MeasureOnce = (_key, measure) => measure()) => {
    const shared = measuredOnce();
    const made: string[] = [];
    const measureOnce: MeasureOnce = (key, measure) =>
      shared(key, () => {
        made.push(key.split(':')[0]);
        return make(key, measure);
      });
    return { measureOnce, made };
  };
  let report: SweepReport;
  let out: string;

  beforeAll(async () => {
    out = join(dir, 'digits');
    ({ report } = await sweep(options(out)));
  });

  it('labels once into the store, and every trial reads it', async () => {
    expect(report.labelling.storeFile).toBe(join(out, 'soft-labels.sl'));
    expect(existsSync(report.labelling.storeFile!)).toBe(true);
    for (const trial of report.trials) {
      const trialReport = JSON.parse(await readFile(join(out, trial.folder, 'report.json'), 'utf8'));
      expect(trialReport.softLabels).toMatchObject({ reused: true, file: report.labelling.storeFile });
    }
  });

  it('writes every trial, a baseline per architecture, the choice on validation and best/student', async () => {
    expect(report.format).toBe('tfjs-distill/sweep');
    expect(report.gridPoints).toBe(4);
    expect(report.trials.map((t) => t.settings)).toEqual(gridPoints(grid, null, 3));
    expect(report.baselines).toHaveLength(2); // mlp:8 and mlp:12
    expect(report.trials.map((t) => report.baselines[t.baseline].params === t.params)).toEqual([true, true, true, true]);
    expect(report.best).toBe(chooseBest(report.trials));
    expect(report.rows).toMatchObject({ train: 600, validation: 60, labeled: 540, test: 200 });
    for (const trial of report.trials) {
      expect(trial.testAccuracy).toBeGreaterThan(0);
      expect(await readdir(join(out, trial.folder))).toEqual(expect.arrayContaining(['report.json', 'student', 'trial.json']));
    }
    const best = report.trials[report.best!];
    expect(await readFile(join(out, 'best', 'student', 'weights.bin'))).toEqual(
      await readFile(join(out, best.folder, 'student', 'weights.bin')),
    );
    expect(JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(report)));
    expect(report.schedule).toEqual({ mode: 'data-parallel', workers: 1, reason: 'asked for (schedule data-parallel)' });
  });

  it("measures once what every trial shares: the teacher's test figures, and each architecture's latency", async () => {
    const reports = await Promise.all(
      report.trials.map(async (trial) => JSON.parse(await readFile(join(out, trial.folder, 'report.json'), 'utf8')) as DistillReport),
    );
    // Measured per trial, the latencies would differ from trial to trial by the timing's noise.
    for (const trialReport of reports) expect(trialReport.teacher).toEqual(reports[0].teacher);
    const latencies = (student: string) =>
      report.trials.flatMap((trial, at) => {
        if (trial.student !== student) return [];
        const { latencyMsBatch1, latencyMsBatch256 } = reports[at].student;
        return [{ latencyMsBatch1, latencyMsBatch256, folder: reports[at].studentFolder?.latency, inSweep: trial.latencyMsBatch1 }];
      });
    for (const student of ['mlp:8', 'mlp:12']) {
      const measured = latencies(student);
      expect(measured).toHaveLength(2);
      expect(measured[1]).toEqual(measured[0]);
      expect(measured[0].folder?.batch1Ms).toBeGreaterThan(0);
    }
  });

  it('trains a trial exactly as the same settings run alone with the same seed', async () => {
    const trial = report.trials[3];
    const alone = await distill({
      teacher: teacherFile,
      student: buildModel(trial.settings.student as string, { inputShape: [28, 28], numClasses: 10, seed: mixSeed(3, 12) }),
      train,
      test,
      temperature: trial.settings.temperature as number,
      epochs: 1,
      batchSize: 64,
      workers: 1,
      threadsPerWorker: 1,
      seed: 3,
      validation: 0.1,
      softLabels: report.labelling.storeFile,
    });
    const inSweep = await loadModel(join(out, trial.folder, 'student', 'model.json'));
    const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
    expect(weights(inSweep)).toEqual(weights(alone.student));
    expect(alone.report.student.accuracy).toBe(trial.testAccuracy);
  });

  it('runs single-worker trials side by side, each as it trains alone', async () => {
    const concurrent = join(dir, 'concurrent');
    // Records every measurement the trials make, by kind.
    const { measureOnce, made } = recordingOnce();
    // What had been measured when the first trial was written.
    let madeAtFirstTrial: string[] | undefined;
    const { report: side } = await sweep({
      ...options(concurrent),
      workers: 2,
      schedule: 'concurrent',
      measureOnce,
      onTrial: () => {
        madeAtFirstTrial ??= [...made];
      },
    });
    // The teacher once for the sweep; each of the two architectures' latency once on a worker and once in its folder,
    // all of it ahead of the trials: no trial waited for another to time what both report.
    expect(made.sort()).toEqual(['folder-latency', 'folder-latency', 'latency', 'latency', 'teacher']);
    expect(madeAtFirstTrial?.sort()).toEqual(made);
    expect(side.schedule).toEqual({ mode: 'concurrent', workers: 2, reason: 'asked for (schedule concurrent)' });
    for (const trial of side.trials) {
      const weights = (root: string) => readFile(join(root, trial.folder, 'student', 'weights.bin'));
      expect(await weights(concurrent)).toEqual(await weights(out));
    }
    expect(side.trials.map((t) => t.validationAccuracy)).toEqual(report.trials.map((t) => t.validationAccuracy));
    // The teacher measured once, before the trials ran side by side.
    const teachers = await Promise.all(
      side.trials.map(async (trial) => JSON.parse(await readFile(join(concurrent, trial.folder, 'report.json'), 'utf8')).teacher),
    );
    for (const teacher of teachers) expect(teacher).toEqual(teachers[0]);
  });

  it('fails when a measurement ahead of the trials fails: it starts no trial and no folder timing not yet started', async () => {
    const failing = join(dir, 'failing-ahead');
    // The first architecture's worker latency fails, as a pool that cannot be restarted would fail it.
    let latencies = 0;
    const { measureOnce, made } = recordingOnce((key, measure) =>
      key.startsWith('latency:') && latencies++ === 0 ? Promise.reject(new DistillError('the pool that measured it failed')) : measure(),
    );
    const finished: number[] = [];
    await expect(
      sweep({ ...options(failing), workers: 2, schedule: 'concurrent', measureOnce, onTrial: (trial) => finished.push(trial.index) }),
    ).rejects.toThrow('the pool that measured it failed');
    expect(finished).toEqual([]);
    expect(existsSync(join(failing, 'trials')) && (await readdir(join(failing, 'trials')))).toEqual(false);
    // The folders' latencies are timed one after another on the measuring thread: at most the one under way
    // when the measurement failed was made, and the sweep waited for it.
    expect(made.filter((kind) => kind === 'folder-latency').length).toBeLessThanOrEqual(1);
    expect(existsSync(join(failing, 'sweep.json'))).toBe(false);
  });

  it('stops the measurements ahead of the trials when cancelled: no folder timing starts after', async () => {
    const cancelled = join(dir, 'cancelled-ahead');
    const controller = new AbortController();
    const { measureOnce, made } = recordingOnce((key, measure) => {
      if (key.startsWith('folder-latency:')) controller.abort(); // as the first folder's timing starts
      return measure();
    });
    await expect(
      sweep({ ...options(cancelled), workers: 2, schedule: 'concurrent', measureOnce, signal: controller.signal }),
    ).rejects.toThrow(DistillCancelledError);
    expect(existsSync(join(cancelled, 'trials'))).toBe(false);
    // Two architectures: the second's folder timing had not started, and never does.
    expect(made.filter((kind) => kind === 'folder-latency')).toEqual(['folder-latency']);
    expect(existsSync(join(cancelled, 'sweep.json'))).toBe(false);
  });

  it('fails when trials cannot write their folders: those started end first, and no half-written folder is left', async () => {
    const failing = join(dir, 'failing');
    const finished: number[] = [];
    await expect(
      sweep({
        ...options(failing),
        workers: 2,
        schedule: 'concurrent',
        classes: ['only one name'],
        onTrial: (trial) => finished.push(trial.index),
      }),
    ).rejects.toThrow(/classes names 1 classes but the student has 10 outputs/);
    expect(finished).toEqual([]);
    expect(await readdir(join(failing, 'trials'))).toEqual([]);
    expect(existsSync(join(failing, 'sweep.json'))).toBe(false);
  });

  it('fails when a trial cannot be written while the next trains: that one is written before the sweep fails, nothing after', async () => {
    const failing = join(dir, 'failing-one');
    const called: number[] = [];
    // One architecture, one runner: trial 0 times its latency and is written before trial 1 trains; trial 1
    // is written while trial 2 trains, and fails (its onTrial throws).
    const failure = sweep({
      ...options(failing),
      grid: { temperature: [1, 2, 4, 8] },
      onTrial: (trial) => {
        called.push(trial.index);
        if (trial.index === 1) throw new Error('onTrial failed on trial 1');
      },
    });
    await expect(failure).rejects.toThrow('onTrial failed on trial 1');
    const listing = async () => (await readdir(join(failing, 'trials'), { recursive: true })).sort();
    const atRejection = await listing();
    expect(atRejection.filter((entry) => entry.includes('partial'))).toEqual([]);
    // Trial 2 had trained when trial 1 failed: it was written (and reported) before the sweep failed; 3 never ran.
    expect(atRejection.filter((entry) => !entry.includes('/'))).toEqual(['000', '001', '002']);
    expect(called).toEqual([0, 1, 2]);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await listing()).toEqual(atRejection);
    expect(existsSync(join(failing, 'sweep.json'))).toBe(false);
  });

  it('resumes: finished trials are kept, the rest run', async () => {
    const kept = await stat(join(out, report.trials[0].folder, 'trial.json'));
    await rm(join(out, report.trials[2].folder), { recursive: true });
    await rm(join(out, 'sweep.json'));
    const resumed: number[] = [];
    const ran: number[] = [];
    const again = await sweep({
      ...options(out),
      resume: true,
      onTrial: (trial, _done, _total, wasResumed) => (wasResumed ? resumed : ran).push(trial.index),
    });
    expect(resumed.sort()).toEqual([0, 1, 3]);
    expect(ran).toEqual([2]);
    expect((await stat(join(out, report.trials[0].folder, 'trial.json'))).mtimeMs).toBe(kept.mtimeMs);
    expect(again.report.trials[2].testAccuracy).toBe(report.trials[2].testAccuracy); // the same trial, trained again
    expect(existsSync(join(out, 'sweep.json'))).toBe(true);
    // Other settings outside the grid: no earlier trial matches, every one runs again.
    const rerun: number[] = [];
    await sweep({
      ...options(out),
      epochs: 2,
      resume: true,
      onTrial: (trial, _d, _t, wasResumed) => !wasResumed && rerun.push(trial.index),
    });
    expect(rerun.sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('schedule auto', () => {
  it('times a few steps of the largest student, fewer than one epoch of its trial, and runs small students side by side', async () => {
    const out = join(dir, 'auto');
    const { report } = await sweep({
      teacher: teacherFile,
      student: 'mlp:8',
      train,
      test,
      grid: { temperature: [1, 4], student: ['mlp:8', 'mlp:12'] },
      epochs: 1,
      batchSize: 64,
      workers: 2,
      seed: 3,
      out,
      schedule: 'auto',
    });
    const { measured } = report.schedule;
    expect(measured?.student).toBe('mlp:12');
    // Steps, not time: the trial's one epoch as its report counts it, against the warm-up and timed steps.
    const trial = report.trials.find((t) => t.student === 'mlp:12')!;
    const trialReport = JSON.parse(await readFile(join(out, trial.folder, 'report.json'), 'utf8')) as DistillReport;
    const epochSteps = trialReport.phases.find((phase) => phase.phase === 'student')!.steps;
    expect(measured!.stepsPerEpoch).toBe(epochSteps);
    expect(measured!.steps).toBeGreaterThanOrEqual(1);
    expect(measured!.steps + 1).toBeLessThan(epochSteps);
    expect(report.schedule.reason).toContain(`measured mlp:12 over ${measured!.steps} steps (the best of ${PROBE_ROUNDS - 1} rounds`);
    expect(measured!.rounds).toBe(PROBE_ROUNDS - 1);
    // The mode follows from the measured rates (which it is depends on the machine's load, so both are allowed):
    // two rounds of side-by-side trials at the one-worker rate, against every trial in turn at the two-worker rate.
    const { oneWorker, allWorkers } = measured!.samplesPerSec;
    const sideBySide = Math.ceil(report.trials.length / 2) / oneWorker < report.trials.length / allWorkers;
    expect(report.schedule).toMatchObject({ mode: sideBySide ? 'concurrent' : 'data-parallel', workers: 2 });
  });

  it.skipIf(availableParallelism() < 2)(
    'without workers given, a small student trains on one rank of the default pool, as run trains it, and is timed so',
    async () => {
      const cores = availableParallelism();
      const base = {
        teacher: teacherFile,
        student: 'mlp:8',
        train,
        test,
        grid: { temperature: [1, 4] },
        epochs: 1,
        batchSize: 64,
        seed: 3,
      };
      const dataParallel = join(dir, 'default-pool');
      const { report } = await sweep({ ...base, out: dataParallel, schedule: 'data-parallel' });
      expect(report.schedule).toMatchObject({ mode: 'data-parallel', workers: cores });
      for (const trial of report.trials) {
        const trialReport = JSON.parse(await readFile(join(dataParallel, trial.folder, 'report.json'), 'utf8')) as DistillReport;
        expect(trialReport).toMatchObject({ workers: cores, trainWorkers: 1 });
      }
      // auto times the trial on every worker as it trains: on the pool's first rank.
      const { report: timed } = await sweep({ ...base, out: join(dir, 'default-pool-auto'), schedule: 'auto' });
      expect(timed.schedule.measured).toMatchObject({ trainWorkers: 1 });
      expect(timed.schedule.reason).toContain(`on ${cores} (training on 1 of them, as a trial would)`);
      // One at a time, each trial would leave the other workers idle: auto runs them side by side.
      expect(timed.schedule).toMatchObject({ mode: 'concurrent', workers: cores });
      expect(timed.schedule.reason).toMatch(/^a trial on every worker trains on 1 of the \d+, leaving the rest idle/);
    },
  );

  it('says when a trainWorkers given for the sweep is lowered to the workers of each trial', async () => {
    const inputs = { workers: 2, trials: 4, student: 'mlp:8', blasThreads: false, measure: () => Promise.reject(new Error('measured')) };
    const concurrent = await chooseSchedule({ ...inputs, choice: 'concurrent', trainWorkers: 2 });
    expect(concurrent.reason).toBe('asked for (schedule concurrent); trainWorkers 2 lowered to 1, the workers each trial runs on');
    const together = await chooseSchedule({ ...inputs, choice: 'data-parallel', trainWorkers: 2 });
    expect(together.reason).toBe('asked for (schedule data-parallel)');
    const auto = await chooseSchedule({ ...inputs, choice: 'concurrent', trainWorkers: 'auto' });
    expect(auto.reason).toBe('asked for (schedule concurrent)');
  });

  it('puts a student large enough for OpenBLAS threads on one threaded worker, without measuring', async () => {
    const schedule = await chooseSchedule({
      choice: 'auto',
      workers: 2,
      trials: 4,
      student: 'mlp:1024',
      blasThreads: true,
      measure: () => Promise.reject(new Error('measured')),
    });
    expect(schedule).toMatchObject({ mode: 'data-parallel', workers: 1 });
    expect(schedule.measured).toBeUndefined();
  });

  it('bounds the timed steps by a small share of the sweep and by an epoch', () => {
    for (const sweepSize of [
      { trials: 4, epochs: 1, stepsPerEpoch: 10 },
      { trials: 8, epochs: 3, stepsPerEpoch: 94 },
      { trials: 16, epochs: 5, stepsPerEpoch: 469 },
      { trials: 2, epochs: 1, stepsPerEpoch: 5 },
    ]) {
      const steps = probeSteps(sweepSize);
      const sweepSteps = sweepSize.trials * sweepSize.epochs * sweepSize.stepsPerEpoch;
      expect(steps + 1).toBeLessThan(sweepSize.stepsPerEpoch);
      expect(steps).toBeLessThanOrEqual(PROBE_MAX_STEPS);
      // Both pools' warm-up and timed steps in every round: a few % of the sweep's, or the fewest that still measure.
      expect(PROBE_SHARE).toBeLessThanOrEqual(0.02);
      expect(2 * PROBE_ROUNDS * (steps + 1)).toBeLessThanOrEqual(
        Math.max(PROBE_SHARE * sweepSteps, 2 * PROBE_ROUNDS * (PROBE_MIN_STEPS + 1)),
      );
    }
    expect(probeSteps({ trials: 16, epochs: 5, stepsPerEpoch: 469 })).toBe(PROBE_MAX_STEPS);
  });
});

describe('tfjs-distill sweep', () => {
  it('takes the grid from the config file, samples --trials, prints a line per trial and the leaderboard', async () => {
    const out = join(dir, 'cli');
    const config = join(dir, 'sweep.yaml');
    await writeFile(config, 'grid:\n  temperature: [1, 2, 4]\n  student: [mlp:8, mlp:12]\nepochs: 1\n');
    const args = ['sweep', '--config', config, '--data', 'mnist', '--limit', '600', '--teacher', teacherFile, '--trials', '2'];
    const result = runCli([...args, '--workers', '1', '--quantize', 'uint8', '--out', out]);
    expect(result.stderr).not.toMatch(/error/);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^trial 1\/2 #\d+ temperature=\d student=mlp:\d+: validation [\d.]+%, test [\d.]+%/m);
    expect(result.stdout).toMatch(/^trial 2\/2 /m);
    expect(result.stdout).toMatch(/settings\s+student\s+val\s+test\s+base val/);
    const report = JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')) as SweepReport;
    expect(report.gridPoints).toBe(6);
    expect(report.trials).toHaveLength(2);
    expect(existsSync(join(out, 'best', 'student', 'model.json'))).toBe(true);
    expect(existsSync(join(out, 'best', 'student', 'uint8', 'model.json'))).toBe(true);
    // --resume keeps both finished trials.
    const resumed = runCli([...args, '--workers', '1', '--out', out, '--resume']);
    expect(resumed.status).toBe(0);
    expect(resumed.stdout.match(/kept from the earlier sweep/g)).toHaveLength(2);
  });

  it('refuses bad grids and trials in flag terms, before loading anything', () => {
    const base = ['sweep', '--data', 'mnist', '--teacher', teacherFile, '--out', join(dir, 'never')];
    const refused = (args: string[]) => {
      const result = runCli([...base, ...args]);
      expect(result.status).toBe(1);
      return result.stderr.trim();
    };
    expect(refused(['--grid', 'temprature=1,2'])).toBe(
      "tfjs-distill: error: --grid key 'temprature' is not an option; did you mean 'temperature'?",
    );
    expect(refused(['--grid', 'alpha=0.5,1.5'])).toMatch(/--grid alpha value 1.5: /);
    expect(refused(['--grid', 'alpha=0.5', '--trials', '3'])).toMatch(/--trials 3 is more than the grid's 1 points/);
    expect(refused([])).toMatch(/sweep needs a grid: --grid KEY=V1,V2/);
    expect(refused(['--grid', 'alpha=0.5', '--schedule', 'fast'])).toMatch(/schedule must be one of auto, concurrent, data-parallel/);
    expect(refused(['--grid', 'alpha=0.5', '--export', 'onnx'])).toMatch(/sweep does not write --export files yet/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it("--help shows the sweep's own validation default", () => {
    const help = runCli(['sweep', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`--validation N\\|F .*\\(default: ${DEFAULT_SWEEP_VALIDATION}; key: validation\\)`));
  });
});
