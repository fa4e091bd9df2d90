import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ProgressView, formatDuration } from '../dist/cli/progress-view.js';
import { RUN_KEYS } from '../dist/cli/run-config.js';
import { RUN_FLAGS, keyOfFlag } from '../dist/cli/flags.js';
import { DEFAULTS, DistillError, buildModel, distill } from '../dist/index.js';
import { OPTION_KEYS } from '../dist/options/options.js';
import { editDistance, keyPaths, nearestName } from '../dist/known-keys.js';
import type { ProgressEvent } from '../dist/index.js';

describe('strict names', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('edit distance counts typos, dropped, doubled and swapped letters as one each', () => {
    expect(editDistance('epochs', 'epochs')).toBe(0);
    expect(editDistance('epoch', 'epochs')).toBe(1);
    expect(editDistance('epochss', 'epochs')).toBe(1);
    expect(editDistance('epcohs', 'epochs')).toBe(1);
    expect(editDistance('alhpa', 'alpha')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearestName('batch_size', [['batchSize', 'batchSize']])).toBe('batchSize');
    expect(
      nearestName('temp', [
        ['seed', 'seed'],
        ['temperature', 'temperature'],
      ]),
    ).toBe('temperature');
    expect(nearestName('zzz', [['seed', 'seed']])).toBeUndefined();
  });

  it('distill() refuses unknown options, top-level and nested, naming them and the nearest valid one', async () => {
    const model = (spec: string) => buildModel(spec, { inputShape: [4], numClasses: 3 });
    const train = { x: new Float32Array(12), y: new Int32Array([0, 1, 2]), shape: [3, 4], numClasses: 3 };
    const base = { teacher: model('mlp:4'), student: model('mlp:2'), train, test: train, workers: 1 };
    const refuses = async (extra: object, message: string) => {
      const run = distill({ ...base, ...extra } as never);
      await expect(run).rejects.toThrow(DistillError);
      await expect(run).rejects.toThrow(message);
    };
    // The option that used to be dropped silently, the run going on with the default learning rate.
    await refuses({ lr: 0.5 }, "unknown option 'lr'; did you mean 'optimizer.learningRate'?");
    await refuses({ learningRate: 0.5 }, "unknown option 'learningRate'; did you mean 'optimizer.learningRate'?");
    await refuses({ epoch: 3 }, "unknown option 'epoch'; did you mean 'epochs'?");
    await refuses({ batch_size: 3 }, "unknown option 'batch_size'; did you mean 'batchSize'?");
    await refuses({ optimizer: { name: 'sgd', lr: 0.5 } }, "unknown option 'optimizer.lr'; did you mean 'optimizer.learningRate'?");
    await refuses({ checkpoint: { dir: '/tmp/x', every: 2 } }, "unknown option 'checkpoint.every'; did you mean 'checkpoint.everySteps'?");
    await refuses(
      { teacherNormalize: { mean: [0], sd: [1] } },
      "unknown option 'teacherNormalize.sd'; did you mean 'teacherNormalize.std'?",
    );
    await refuses({ zzz: 1 }, "unknown option 'zzz'; valid options: train, test, teacherView, augment, seed, teacher,");
  });

  it('the option names come from DEFAULTS and one list of the options without a default', () => {
    for (const key of Object.keys(DEFAULTS)) expect(OPTION_KEYS).toHaveProperty(key);
    expect(keyPaths(OPTION_KEYS)).toEqual(
      expect.arrayContaining(['optimizer.name', 'optimizer.learningRate', 'checkpoint.dir', 'teacherNormalize.mean', 'teacher', 'train']),
    );
    // Every flag sets a key a config file may hold.
    const keys = new Set(keyPaths(RUN_KEYS));
    for (const flag of Object.keys(RUN_FLAGS)) {
      const key = keyOfFlag(flag);
      if (key !== undefined) expect(keys.has(key), `--${flag} sets ${key}`).toBe(true);
    }
    for (const notInFiles of ['train', 'test', 'onProgress', 'signal', 'checkpoint.dir']) expect(keys.has(notInFiles)).toBe(false);
  });
});

/** A stream that records what is written, as a terminal or a log. */
function recorder(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (text: string) => writes.push(text) > 0 } };
}

describe('live progress', () => {
  const training = (phase: ProgressEvent['phase'], done: number, total: number, epochs: number, epochEnd = false): ProgressEvent => ({
    phase,
    done,
    total,
    epoch: Math.max(1, Math.ceil((done / total) * epochs)),
    epochs,
    epochEnd,
    rows: 500,
    loss: 0.5,
    samplesPerSec: 1000,
  });

  it('in a log: "starting workers" once, a line per epoch, at most one every 10 s, the end of every phase', () => {
    const { writes, stream } = recorder(false);
    let now = 0;
    const view = new ProgressView(stream, 10_000, () => now);
    view.update({ phase: 'setup', done: 0, total: 1, samplesPerSec: 0 });
    view.update({ phase: 'setup', done: 1, total: 1, samplesPerSec: 0 });
    // 2 epochs of 100 steps, a report every 100 ms: 20 s in all.
    for (let step = 1; step <= 200; step++) {
      now += 100;
      view.update(training('student', step, 200, 2, step % 100 === 0));
    }
    expect(writes[0]).toBe('starting workers\n');
    expect(writes.filter((line) => line.startsWith('starting workers'))).toHaveLength(1);
    const student = writes.filter((line) => line.startsWith('distilling student'));
    expect(student.length).toBeLessThanOrEqual(2 + 2);
    expect(student.at(-1)).toMatch(/^distilling student\s+epoch 2\/2 {2}step 200\/200 {2}loss 0\.5000 {2}1,000 samples\/s {2}in 20 s\n$/);
    // The baseline's 158 passes are not epochs the user asked for: no line for each.
    writes.length = 0;
    for (let step = 1; step <= 630; step++) {
      now += 10;
      view.update(training('baseline', step, 630, 158, step % 4 === 0));
    }
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^training baseline\s+step 630\/630 \(same steps as the student: 158 passes over 500 labelled rows\)/);
  });

  it('on a terminal: a bar per phase with its ETA, rewritten in place and left standing at the end', () => {
    const { writes, stream } = recorder(true);
    let now = 0;
    const view = new ProgressView(stream, 10_000, () => now);
    for (let step = 1; step <= 10; step++) {
      now += 1000;
      view.update(training('teacher', step, 10, 2, step % 5 === 0));
    }
    expect(writes[0].startsWith('\r\x1b[2Ktraining teacher')).toBe(true); // back to the line's start, erase it, rewrite it
    expect(writes[0]).toMatch(/training teacher\s+█{2}░{22} {2}10%/);
    // After 4 of 10 steps in 4 s (the first report starts the clock), 6 more take about 6 s.
    expect(writes[4]).toMatch(/50% {2}ETA 4\.0 s {2}epoch 1\/2 {2}step 5\/10/);
    expect(writes.at(-2)).toMatch(/█{24} 100% {2}in 9\.0 s/);
    expect(writes.at(-1)).toBe('\n');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
  });

  it('on a terminal: the labelling line says what it waits for while the queue is unreachable, and stops when it is back', () => {
    const { writes, stream } = recorder(true);
    const view = new ProgressView(stream, 10_000, () => 0);
    const waitingFor = 'redis://:***@10.0.0.5:6379/digits (unreachable for 20 s)';
    view.update({ phase: 'label', done: 256, total: 60_000, samplesPerSec: 0, waitingFor });
    expect(writes.at(-1)).toMatch(/rows 256\/60,000 {2}waiting for redis:\/\/:\*\*\*@10\.0\.0\.5:6379\/digits \(unreachable for 20 s\)$/);
    view.update({ phase: 'label', done: 512, total: 60_000, samplesPerSec: 0 });
    expect(writes.at(-1)).not.toMatch(/waiting for/);
  });
});
