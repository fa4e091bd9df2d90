import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataSource } from '../dist/data/data-source.js';
import { withTeacherClasses } from '../dist/teachers/teacher-classes.js';
import { runCli, runCliAsync } from './helpers/cli.js';
import { Cli, expectSameBytes, freePort, hasRedis, startRedis } from './helpers/queue-processes.js';

// Real tree ensembles (test/fixtures/trees, from examples/trees/make_tree_teachers.py) on the real Seattle
// weather table as it is written: a header, named columns, class names as strings.
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const TABLES = join(HERE, 'fixtures', 'tabular');
const TRAIN = join(TABLES, 'weather-train.csv');
const TEST = join(TABLES, 'weather-test.csv');
const FOREST = join(HERE, 'fixtures', 'trees', 'forest_zipmap.onnx');
const INT_LABELS = join(HERE, 'fixtures', 'trees', 'small_int_labels_zipmap.onnx');
const WEATHER = ['--features', 'precipitation,temp_max,temp_min,wind', '--label-field', 'weather'];
const TEACHER_CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];

let dir: string;
/** weather-train.csv without its drizzle rows: its own sorted labels would be four classes, not the teacher's five. */
let noDrizzle: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-tree-tables-'));
  const [header, ...lines] = (await readFile(TRAIN, 'utf8')).trim().split('\n');
  noDrizzle = join(dir, 'no-drizzle.csv');
  await writeFile(noDrizzle, [header, ...lines.filter((line) => !line.endsWith(',drizzle'))].join('\n'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lastLine = (text: string) => text.trim().split('\n').at(-1);

describe("a tree teacher's graph fixes the class order of a table", () => {
  it('library: withTeacherClasses sets classes from the graph, and the labels map onto them', async () => {
    const options = { source: `csv:${noDrizzle}`, testFraction: 0.2, seed: 1, labelField: 'weather', features: ['wind'] };
    expect((await loadDataSource(options)).classes).toEqual(['fog', 'rain', 'snow', 'sun']);
    const withTeacher = await withTeacherClasses(options, FOREST);
    expect(withTeacher.classes).toEqual(TEACHER_CLASSES);
    const splits = await loadDataSource(withTeacher);
    expect(splits.classes).toEqual(TEACHER_CLASSES);
    expect(splits.train.numClasses).toBe(5);
    // No row is drizzle (0); rain is the teacher's class 2.
    expect(splits.train.y.includes(0)).toBe(false);
    expect(splits.train.y.includes(2)).toBe(true);
    // Sources without class names, and teachers that declare none, are left as they are.
    expect(await withTeacherClasses({ source: 'mnist', testFraction: 0.2, seed: 1 }, FOREST)).toEqual({
      source: 'mnist',
      testFraction: 0.2,
      seed: 1,
    });
    expect(await withTeacherClasses(options, join(ROOT, 'test', 'fixtures', 'trees', 'small_scaler_network.onnx'))).toBe(options);
  });

  it('label: a table without one of the classes labels with the teacher five; int64 class labels match as written', async () => {
    // A header table labelled 0..4 with a teacher whose classes are int64s 0..4.
    const lines = (await readFile(TRAIN, 'utf8')).trim().split('\n').slice(1, 200);
    const indexed = lines.map((line) => {
      const cells = line.split(',');
      return [...cells.slice(1, 5), TEACHER_CLASSES.indexOf(cells[5])].join(',');
    });
    await writeFile(join(dir, 'indexed.csv'), ['precipitation,temp_max,temp_min,wind,label', ...indexed].join('\n'));
    // The two commands are independent: they run side by side.
    const [result, ints] = await Promise.all([
      runCliAsync(['label', '--data', `csv:${noDrizzle}`, ...WEATHER, '--teacher', FOREST, '--soft-labels', join(dir, 'a.sl')]),
      runCliAsync(['label', '--data', `csv:${join(dir, 'indexed.csv')}`, '--teacher', INT_LABELS, '--soft-labels', join(dir, 'i.sl')]),
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/the teacher's classes, in the order of its probabilities: drizzle, fog, rain, snow, sun/);
    expect(ints.status, ints.stderr).toBe(0);
  });

  it('a label the teacher does not know, and classes that differ from its graph: one line naming the fix', async () => {
    const [header, ...lines] = (await readFile(TRAIN, 'utf8')).trim().split('\n');
    await writeFile(join(dir, 'hail.csv'), [header, ...lines.slice(0, 20), '2015-01-01,1,2,3,4,hail'].join('\n'));
    const [hail, classes] = await Promise.all([
      runCliAsync(['label', '--data', `csv:${join(dir, 'hail.csv')}`, ...WEATHER, '--teacher', FOREST, '--soft-labels', join(dir, 'h.sl')]),
      runCliAsync([
        'label',
        '--data',
        `csv:${TRAIN}`,
        ...WEATHER,
        '--classes',
        'sun,rain,fog,snow,drizzle',
        '--teacher',
        FOREST,
        '--soft-labels',
        join(dir, 'c.sl'),
      ]),
    ]);
    expect(hail.status).toBe(1);
    expect(lastLine(hail.stderr)).toBe(
      `tfjs-distill: error: ${join(dir, 'hail.csv')} line 22: the label "hail" is not one of the classes of ${FOREST} ` +
        '(drizzle, fog, rain, snow, sun); relabel the row, or give a --teacher trained on that class',
    );
    expect(classes.status).toBe(1);
    expect(lastLine(classes.stderr)).toMatch(
      /--classes sun,rain,fog,snow,drizzle differ from the class labels of the teacher's graph, drizzle,fog,rain,snow,sun in that order; drop --classes$/,
    );
  });

  it.skipIf(!hasRedis)('the queue: workers label the table (the raw rows, in the teacher order) as a local label does', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const queue = `redis://127.0.0.1:${port}/tree-tables`;
    const worker = new Cli(['worker', '--queue', queue, '--workers', '1']);
    try {
      const label = (store: string, ...flags: string[]) =>
        new Cli(['label', '--data', `csv:${noDrizzle}`, ...WEATHER, '--teacher', FOREST, '--soft-labels', join(dir, store), ...flags])
          .exited;
      const [local, queued] = await Promise.all([label('local.sl'), label('queued.sl', '--queue', queue, '--job-rows', '256')]);
      expect(local.status, local.stderr).toBe(0);
      expect(queued.status, queued.stderr).toBe(0);
      expect(queued.stdout).toMatch(/labelled \d+ rows in \d+ jobs/);
      await expectSameBytes(join(dir, 'queued.sl'), join(dir, 'local.sl'));
      expect((await worker.stop('SIGTERM')).status).toBe(0);
    } finally {
      worker.child.kill('SIGKILL');
      redis.kill('SIGKILL');
    }
  });
});

describe('distillation pays on the weather table: an MLP taught by the forest against its hard-label baseline', () => {
  // Settings and seeds measured in docs/trees-as-teachers.md: across seeds 1-5 at 50 labels the student beat the
  // baseline by well over 10 points every time, so the test asserts 10 points on one seed.
  it('50 labels, seed 1: the student beats the baseline; predict on the folder gives the report accuracy', async () => {
    const out = join(dir, 'run');
    const run = runCli(
      [
        'run',
        '--data',
        `csv:${TRAIN}`,
        '--test-data',
        `csv:${TEST}`,
        ...WEATHER,
        '--teacher',
        FOREST,
        '--student-arch',
        'mlp:32',
        '--labeled',
        '50',
        '--epochs',
        '100',
        '--lr',
        '0.01',
        '--baseline',
        '--workers',
        '1',
        '--seed',
        '1',
        '--out',
        out,
      ],
      { cwd: ROOT },
    );
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.teacher.accuracy).toBeCloseTo(0.859, 3);
    expect(report.data.classes).toEqual(TEACHER_CLASSES);
    expect(report.notices.join('\n')).toMatch(
      /an ONNX-ML TreeEnsembleClassifier; its output 'probabilities', the probabilities its ZipMap/,
    );
    expect(report.student.accuracy).toBeGreaterThan(report.baseline.accuracy + 0.1);
    expect(run.stdout).toMatch(/test accuracy +85\.90% +\d+\.\d\d% +\d+\.\d\d%/);

    const predicted = runCli(
      ['predict', join(out, 'student'), '--data', `csv:${TEST}`, '--label-field', 'weather', '--out', join(dir, 'p.jsonl')],
      {
        cwd: ROOT,
      },
    );
    expect(predicted.status, predicted.stderr).toBe(0);
    const correct = Math.round(report.student.accuracy * 461);
    expect(predicted.stdout).toBe(
      `wrote 461 predictions to ${join(dir, 'p.jsonl')}; accuracy ${(report.student.accuracy * 100).toFixed(2)}% (${correct} of 461 labelled rows)\n`,
    );
  });
});
