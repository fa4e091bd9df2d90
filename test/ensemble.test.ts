import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, takeRows } from '../dist/data/dataset.js';
import { LogitTable } from '../dist/data/logit-table.js';
import { readSoftLabels } from '../dist/data/soft-label-store.js';
import { label } from '../dist/labelling/label.js';
import { sweep } from '../dist/sweep/sweep.js';
import { buildModel } from '../dist/models/architectures.js';
import { saveModel } from '../dist/models/model-files.js';
import { runCli, runCliAsync } from './helpers/cli.js';
import { digitRows } from './helpers/digits.js';
import { writeGreyRows } from './helpers/npy-writer.js';
import { Cli, expectSameBytes, freePort, hasRedis, startRedis, storeParts } from './helpers/queue-processes.js';

/** The last line of stderr: a failed command's one-line error. */
const lastLine = (result: { stderr: string }) => result.stderr.trim().split('\n').at(-1);

/** Trains `spec` on `rows` of the digits (float pixels in [0, 1], as the workers see them) on this thread, and saves it to `dir`. */
async function trainAndSave(spec: string, rows: Dataset, numClasses: number, epochs: number, seed: number, dir: string): Promise<void> {
  const model = buildModel(spec, { inputShape: [28, 28], numClasses, seed });
  model.compile({
    optimizer: tf.train.adam(0.003),
    loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
  });
  const xs = tf.tidy(() => tf.tensor(Float32Array.from(rows.x), rows.shape));
  const ys = tf.oneHot(
    tf.tensor1d(
      Int32Array.from(rows.y, (y) => y % numClasses),
      'int32',
    ),
    numClasses,
  );
  await model.fit(xs, ys, { epochs, batchSize: 64, shuffle: false, verbose: 0 });
  tf.dispose([xs, ys]);
  await saveModel(model, dir);
  model.dispose();
}

/** A float32 store's logits, read back with the key its label() result names. */
async function storedLogits(file: string, key: string, rows: number): Promise<Float32Array> {
  const table = LogitTable.create(rows, 10);
  const read = await readSoftLabels(file, table, key, { kind: 'float32' });
  expect(read.ok).toBe(true);
  return table.values;
}

describe('teacher ensembles', () => {
  let dir: string;
  let train: Dataset;
  let test: Dataset;
  let a: string;
  let b: string;
  let fiveClasses: string;
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  /** The CLI without blocking, for independent commands that can run side by side. */
  const cliAsync = (...args: string[]) => runCliAsync(args, { cwd: dir });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-ensemble-'));
    const digits = await digitRows(3000, 1000);
    train = takeRows(digits.train, 1200);
    test = takeRows(digits.test, 300);
    // Two different teachers: a wider MLP on the first 1,500 rows, a narrow one on the next 1,500.
    const half = (start: number): Dataset => ({
      x: digits.train.x.slice(start * 784, (start + 1500) * 784),
      y: digits.train.y.slice(start, start + 1500),
      shape: [1500, 28, 28],
      numClasses: 10,
    });
    a = join(dir, 'teacher-a');
    b = join(dir, 'teacher-b');
    fiveClasses = join(dir, 'teacher-five');
    await trainAndSave('mlp:64', half(0), 10, 4, 1, a);
    await trainAndSave('mlp:16', half(1500), 10, 2, 2, b);
    await trainAndSave('mlp:8', half(0), 5, 1, 3, fiveClasses);
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('labels as the mean of its members logits, each labelled in a separate run; probabilities average at T', async () => {
    const run = (teacher: string | string[], file: string, ensemble?: 'logits' | 'probabilities') =>
      label({ teacher, train, softLabels: join(dir, file), workers: 2, ensemble, temperature: 2 });
    const [alone, other, both, probabilities] = [
      await run(a, 'a.sl'),
      await run(b, 'b.sl'),
      await run([a, b], 'ab.sl'),
      await run([a, b], 'ab-probabilities.sl', 'probabilities'),
    ];
    const rows = train.shape[0];
    const logitsA = await storedLogits(join(dir, 'a.sl'), alone.key, rows);
    const logitsB = await storedLogits(join(dir, 'b.sl'), other.key, rows);
    const mean = await storedLogits(join(dir, 'ab.sl'), both.key, rows);
    let worst = 0;
    for (let i = 0; i < mean.length; i++) worst = Math.max(worst, Math.abs(mean[i] - (logitsA[i] + logitsB[i]) / 2));
    expect(worst).toBeLessThan(1e-5);

    // probabilities: softmax(z / T) of what is stored is the mean of the members' softmax(z / T).
    const stored = await storedLogits(join(dir, 'ab-probabilities.sl'), probabilities.key, rows);
    const softmax = (values: Float32Array, row: number) => {
      const z = Array.from(values.subarray(row * 10, row * 10 + 10), (v) => v / 2);
      const max = Math.max(...z);
      const e = z.map((v) => Math.exp(v - max));
      const total = e.reduce((s, v) => s + v, 0);
      return e.map((v) => v / total);
    };
    let worstProbability = 0;
    for (let row = 0; row < rows; row++) {
      const [pa, pb, pe] = [softmax(logitsA, row), softmax(logitsB, row), softmax(stored, row)];
      for (let c = 0; c < 10; c++) worstProbability = Math.max(worstProbability, Math.abs(pe[c] - (pa[c] + pb[c]) / 2));
    }
    expect(worstProbability).toBeLessThan(1e-5);

    // The store key covers every member, in order, and how they combine.
    const reversed = await run([b, a], 'ba.sl');
    expect(new Set([alone.key, other.key, both.key, probabilities.key, reversed.key]).size).toBe(5);
    // A list of one is that teacher.
    expect((await run([a], 'a.sl')).reused).toBe(true);
  }, 120_000);

  it('on the digits, the ensemble beats its weaker member as a teacher; the report and summary give every accuracy', async () => {
    const distil = (out: string, ...teachers: string[]) =>
      cli(
        'run',
        ...['--data', 'mnist', '--limit', '3000', ...teachers.flatMap((t) => ['--teacher', t]), '--student-arch', 'mlp:16'],
        ...['--epochs', '4', '--labeled', '300', '--workers', '2', '--out', out],
      );
    const result = distil('run', a, b);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(dir, 'run', 'report.json'), 'utf8'));
    const members: { name: string; accuracy: number }[] = report.teacher.ensemble.members;
    expect(members.map((m) => m.name)).toEqual([a, b]);
    expect(report.teacher.ensemble.combine).toBe('logits');
    const weakerIndex = members[0].accuracy < members[1].accuracy ? 0 : 1;
    expect(report.teacher.accuracy).toBeGreaterThan(members[weakerIndex].accuracy);
    expect(report.config.teacher).toEqual([a, b]);
    expect(result.stdout).toMatch(/the teacher is an ensemble of 2 \(the mean of their logits\); each alone:/);
    const html = await readFile(join(dir, 'run', 'report.html'), 'utf8');
    expect(html).toContain('<table class="ensemble">');
    expect(html).toContain(`data-value="${members[0].accuracy}"`);

    // As a teacher: the same student, distilled from the weaker member alone, ends below the ensemble's.
    const alone = distil('weaker', [a, b][weakerIndex]);
    expect(alone.status, alone.stderr).toBe(0);
    const weaker = JSON.parse(await readFile(join(dir, 'weaker', 'report.json'), 'utf8'));
    expect(weaker.teacher.accuracy).toBe(members[weakerIndex].accuracy);
    expect(report.student.accuracy).toBeGreaterThan(weaker.student.accuracy);
    console.log(
      `teachers: ensemble ${report.teacher.accuracy}, members ${members.map((m) => m.accuracy).join(', ')}; ` +
        `students: from the ensemble ${report.student.accuracy}, from the weaker member ${weaker.student.accuracy}`,
    );
  }, 180_000);

  it('label in shards, merged, is byte-identical to label in one go; a config file gives the members as a list', async () => {
    const teachers = ['--teacher', a, '--teacher', b];
    const labelAll = ['label', '--data', 'mnist', '--limit', '1500', ...teachers];
    // One-worker shards and the whole store are independent: they run side by side.
    const [whole, ...parts] = await Promise.all([
      cliAsync(...labelAll, '--workers', '2', '--soft-labels', 'whole.sl'),
      ...['0/3', '1/3', '2/3'].map((shard) => cliAsync(...labelAll, '--workers', '1', '--soft-labels', 'parts.sl', '--shard', shard)),
    ]);
    expect(whole.status, whole.stderr).toBe(0);
    for (const part of parts) expect(part.status, part.stderr).toBe(0);
    const merged = cli('merge', 'parts.sl', 'parts.sl.shard-0-of-3', 'parts.sl.shard-1-of-3', 'parts.sl.shard-2-of-3');
    expect(merged.status, merged.stderr).toBe(0);
    await expectSameBytes(join(dir, 'parts.sl'), join(dir, 'whole.sl'));
    // A config file's list is the same ensemble: the store already holds its labels.
    await writeFile(
      join(dir, 'ensemble.yaml'),
      ['data: mnist', 'limit: 1500', `teacher: [${a}, ${b}]`, 'softLabels: whole.sl', ''].join('\n'),
    );
    const configured = cli('label', '--config', 'ensemble.yaml', '--workers', '1');
    expect(configured.status, configured.stderr).toBe(0);
    expect(configured.stdout).toMatch(/whole\.sl already holds these labels/);
  }, 120_000);

  it('sweep labels once with the ensemble, into the store label() writes; every trial reads it', async () => {
    const teacher = [a, b];
    const combined = { teacher, ensemble: 'probabilities' as const, temperature: 2, train };
    const out = join(dir, 'sweep');
    const options = { ...combined, test, student: 'mlp:8', epochs: 1, workers: 1, out, schedule: 'data-parallel' as const };
    const { report } = await sweep({ ...options, grid: { alpha: [0.5, 0.9] } });
    const alone = await label({ ...combined, softLabels: join(dir, 'sweep-reference.sl'), workers: 2 });
    expect(alone.reused).toBe(false);
    await expectSameBytes(report.labelling.storeFile!, alone.file);
    for (const trial of report.trials) {
      const trialReport = JSON.parse(await readFile(join(out, trial.folder, 'report.json'), 'utf8'));
      expect(trialReport.softLabels).toMatchObject({ reused: true, file: report.labelling.storeFile });
      expect(trialReport.teacher.ensemble.combine).toBe('probabilities');
    }
    // The mean of probabilities is one store per temperature, so a sweep of it cannot vary the temperature.
    await expect(sweep({ ...options, out: join(dir, 'refused'), grid: { temperature: [1, 2] } })).rejects.toThrow(
      "an ensemble's mean of probabilities is made at one temperature; use ensemble 'logits' or take temperature out of the grid",
    );
  }, 180_000);

  it('refuses members of different class counts, naming both, and a teacher the run would train beside --teacher', async () => {
    await expect(label({ teacher: [a, fiveClasses], train, softLabels: join(dir, 'bad.sl'), workers: 1 })).rejects.toThrow(
      `the ensemble's teachers have different class counts: ${a} has 10, ${fiveClasses} has 5 (the data has 10); give teachers of the same classes`,
    );
    // The four commands fail before any work; they run side by side.
    const [mixed, trained, built, mode] = await Promise.all([
      cliAsync('run', '--data', 'mnist', '--limit', '600', '--teacher', a, '--teacher', fiveClasses, '--out', 'bad-mixed'),
      cliAsync('run', '--data', 'mnist', '--teacher', a, '--teacher-arch', 'mlp:8', '--out', 'bad-trained'),
      cliAsync('label', '--data', 'mnist', '--teacher', a, '--teacher', 'mlp:8', '--soft-labels', 'bad.sl'),
      cliAsync('label', '--data', 'mnist', '--teacher', a, '--teacher', b, '--ensemble', 'median', '--soft-labels', 'bad.sl'),
    ]);
    expect(mixed.status).not.toBe(0);
    expect(lastLine(mixed)).toBe(
      `tfjs-distill: error: the ensemble's teachers have different class counts: ${a} has 10, ${fiveClasses} has 5 ` +
        '(the data has 10); give teachers of the same classes',
    );
    expect(lastLine(trained)).toBe('tfjs-distill: error: give --teacher PATH (several for an ensemble) or --teacher-arch SPEC, not both');
    expect(lastLine(built)).toMatch(/--teacher mlp:8 names an architecture, but an ensemble's teachers are saved models/);
    expect(lastLine(mode)).toMatch(/--ensemble 'median' is not one of logits, probabilities/);
  }, 120_000);
});

// An ensemble of two kinds (an ONNX file and a tfjs layers model) on [rows, 8, 8] rows of 3 classes, for cnn_gray.onnx.
const ONNX_TEACHER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'onnx', 'cnn_gray.onnx');
const ROWS = 1000;

describe.skipIf(!hasRedis)('an ensemble of an ONNX and a layers teacher, locally and on the queue', () => {
  let dir: string;
  let data: string;
  let layers: string;
  let port: number;
  let redis: ChildProcess;
  const processes: Cli[] = [];
  const cli = (args: string[]) => {
    const process = new Cli(args);
    processes.push(process);
    return process;
  };
  const queue = (name: string) => `redis://127.0.0.1:${port}/${name}`;
  const label = (store: string, teachers: string[], ...flags: string[]) =>
    cli([
      'label',
      ...['--data', data, ...teachers.flatMap((t) => ['--teacher', t]), '--soft-labels', join(dir, store), '--workers', '1'],
      ...flags,
    ]).exited;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-ensemble-queue-'));
    await tf.setBackend('cpu');
    data = await writeGreyRows(dir, ROWS);
    layers = join(dir, 'layers-teacher');
    await saveModel(buildModel('mlp:16', { inputShape: [8, 8], numClasses: 3, seed: 4 }), layers);
    port = await freePort();
    redis = await startRedis(port);
  });

  afterAll(async () => {
    for (const process of processes) process.child.kill('SIGKILL');
    redis?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('labels as the mean of its members; local, sharded and queued stores are byte-identical, probabilities included', async () => {
    const worker = cli(['worker', '--queue', queue('ensemble'), '--workers', '1']);
    const teachers = [ONNX_TEACHER, layers];
    const probabilities = ['--ensemble', 'probabilities', '--temperature', '3'];
    const results = await Promise.all([
      label('onnx.sl', [ONNX_TEACHER]),
      label('layers.sl', [layers]),
      label('local.sl', teachers),
      label('queued.sl', teachers, '--queue', queue('ensemble'), '--job-rows', '256'),
      label('local-p.sl', teachers, ...probabilities),
      label('sharded-p.sl', teachers, ...probabilities, '--shard', '0/2'),
      label('sharded-p.sl', teachers, ...probabilities, '--shard', '1/2'),
      label('queued-p.sl', teachers, ...probabilities, '--queue', queue('ensemble'), '--job-rows', '256'),
    ]);
    for (const result of results) expect(result.status, result.stderr).toBe(0);
    await expectSameBytes(join(dir, 'queued.sl'), join(dir, 'local.sl'));
    await expectSameBytes(join(dir, 'queued-p.sl'), join(dir, 'local-p.sl'));
    const stem = join(dir, 'sharded-p.sl');
    const merge = await cli(['merge', join(dir, 'merged-p.sl'), `${stem}.shard-0-of-2`, `${stem}.shard-1-of-2`]).exited;
    expect(merge.status, merge.stderr).toBe(0);
    await expectSameBytes(join(dir, 'merged-p.sl'), join(dir, 'local-p.sl'));

    // Float32 stores of 800 training rows (the npy source holds 200 out for testing): the ensemble's logits are the mean of each member's.
    const logits = async (store: string) => {
      const { body } = await storeParts(join(dir, store));
      // The rows' logits, then the file's checksum.
      return new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + 800 * 3 * 4));
    };
    const [onnx, layer, mean, meanP] = [
      await logits('onnx.sl'),
      await logits('layers.sl'),
      await logits('local.sl'),
      await logits('local-p.sl'),
    ];
    let worst = 0;
    for (let i = 0; i < mean.length; i++) worst = Math.max(worst, Math.abs(mean[i] - (onnx[i] + layer[i]) / 2));
    expect(worst).toBeLessThan(1e-5);
    expect(meanP.some((v, i) => Math.abs(v - mean[i]) > 1e-3)).toBe(true); // the probabilities' mean is another table
    expect(worker.stdout).toMatch(/teacher .*cnn_gray\.onnx \+ .*layers-teacher on onnxruntime/);
    expect((await worker.stop('SIGTERM')).status).toBe(0);
  }, 180_000);
});
