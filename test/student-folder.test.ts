import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DistillReport, ImageContract, TextContract } from '../dist/index.js';
import { buildModel, loadMnist, loadTokenizer, readStudentClasses, takeRows, textContract, writeStudentFolder } from '../dist/index.js';
import { bytes, count, ms, percent } from '../dist/reports/html-format.js';
import { runCli } from './helpers/cli.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

let dir: string;
/** The digits run's report, which the library test writes a folder from. */
let digitsReport: DistillReport;

const DIGITS = ['--data', 'mnist', '--limit', '600', '--teacher-arch', 'mlp:32', '--teacher-epochs', '2', '--student-arch', 'mlp:16'];
const SHORT = ['--epochs', '2', '--lr', '0.005', '--workers', '2'];
const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;

const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8'));

/** Every file under `root`, relative to it, in name order. */
async function filesUnder(root: string, under = ''): Promise<string[]> {
  const entries = await readdir(join(root, under), { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? filesUnder(root, join(under, e.name)) : [join(under, e.name)])));
  return nested.flat().sort();
}

/** Loads a model folder with stock tfjs alone, from its own files: no tfjs-distill code. */
async function loadStock(folder: string): Promise<tf.LayersModel> {
  const json = await readJson(join(folder, 'model.json'));
  const files: string[] = json.weightsManifest.flatMap((group: { paths: string[] }) => group.paths);
  const data = Buffer.concat(await Promise.all(files.map((file) => readFile(join(folder, file)))));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group: { weights: tf.io.WeightsManifestEntry[] }) => group.weights),
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    }),
  );
}

describe('the student folder', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-folder-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('digits: one folder with everything, loadable by stock tfjs once copied elsewhere, its card with the report’s numbers', async () => {
    const out = join(dir, 'digits');
    // What an earlier run of the old layout left: variants and classes.json beside the student.
    await mkdir(join(out, 'student-uint8'), { recursive: true });
    await writeFile(join(out, 'student-uint8', 'model.json'), '{}');
    await writeFile(join(out, 'classes.json'), '["stale"]\n');
    const result = runCli(['run', ...DIGITS, ...SHORT, '--quantize', 'uint8', '--out', out]);
    expect(result.status, result.stderr).toBe(0);
    expect(existsSync(join(out, 'student-uint8'))).toBe(false);
    expect(existsSync(join(out, 'classes.json'))).toBe(false);
    expect((await readdir(out)).filter((name) => name.includes('partial'))).toEqual([]);

    const folder = join(out, 'student');
    const files = await filesUnder(folder);
    expect(files).toEqual([
      'README.md',
      'classes.json',
      'model.json',
      'preprocessing.json',
      'uint8/model.json',
      'uint8/weights.bin',
      'weights.bin',
    ]);
    const report: DistillReport = await readJson(join(out, 'report.json'));
    digitsReport = report;
    const described = report.studentFolder!;
    expect(described.path).toBe('student');
    expect(described.input).toBe('image');
    expect(described.files).toEqual(await Promise.all(files.map(async (path) => ({ path, bytes: (await stat(join(folder, path))).size }))));
    expect(report.quantization!.artifacts.map((a) => a.path)).toEqual(['student', 'student/uint8']);

    const contract: ImageContract = await readJson(join(folder, 'preprocessing.json'));
    expect(contract).toEqual({
      format: 'tfjs-distill/preprocessing',
      version: 1,
      inputShape: [28, 28],
      kind: 'image',
      height: 28,
      width: 28,
      channels: 1,
      layout: 'hwc',
      scale: 1 / 255,
    });
    expect(await readJson(join(folder, 'classes.json'))).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

    // Copied elsewhere and the run's folder gone: stock tfjs loads each model from the copy's own files alone.
    const copy = join(dir, 'elsewhere', 'my-student');
    await cp(folder, copy, { recursive: true });
    await rm(out, { recursive: true, force: true });
    const { test } = await loadMnist(); // pixels already times 1/255, as preprocessing.json asks
    for (const artifact of report.quantization!.artifacts) {
      const model = await loadStock(join(copy, artifact.path.slice('student'.length)));
      const predicted = tf.tidy(() =>
        (model.predict(tf.tensor(test.x, [test.y.length, ...contract.inputShape])) as tf.Tensor).argMax(-1).dataSync(),
      );
      const hits = predicted.reduce((sum, label, i) => sum + (label === test.y[i] ? 1 : 0), 0);
      expect(hits / test.y.length, artifact.path).toBe(artifact.accuracy);
      model.dispose();
    }

    // The card states what the report measured, and how the student was made.
    const card = await readFile(join(copy, 'README.md'), 'utf8');
    const { latency } = described;
    expect(latency.backend).toBe('wasm');
    expect(latency.batch1Ms).toBeGreaterThan(0);
    expect(latency.batch256Ms).toBeGreaterThan(latency.batch1Ms);
    const [float32, uint8] = report.quantization!.artifacts;
    // The issue's uint8 bound, on the digits: at most 30% of float32's weight bytes, within 1 point of its accuracy.
    expect(uint8.weightBytes).toBeLessThanOrEqual(0.3 * float32.weightBytes);
    expect(Math.abs(uint8.accuracyDrop)).toBeLessThanOrEqual(1);
    for (const figure of [
      `| parameters | ${count.format(report.student.params)} |`,
      `| test accuracy | ${percent(report.student.accuracy)} |`,
      `| agreement with the teacher | ${percent(report.student.agreement!)} |`,
      `| teacher | ${percent(report.teacher!.accuracy)} |`,
      `mlp:32: ${count.format((report.teacher as { params: number }).params)} parameters`,
      `| \`uint8/\` | uint8 | ${bytes(uint8.bytes)} |`,
      `batch 1: ${ms(latency.batch1Ms)}`,
      `batch 256: ${ms(latency.batch256Ms)}`,
      `tfjs-distill run ${[...DIGITS, ...SHORT].join(' ')} --quantize uint8 --out ${out}`,
      "import { loadStudent } from 'tfjs-distill/student';",
      'tf.loadLayersModel(tf.io.fromMemory(',
      'const x = tf.tensor(pixels, [1, 28, 28]).mul(1 / 255);',
    ]) {
      expect(card).toContain(figure);
    }
  });

  it('text: the tokenizer files and a text contract in the folder', async () => {
    const out = join(dir, 'spam');
    const tokenizerDir = TOKENIZER_DIRS.unigram;
    const result = runCli([
      'run',
      ...['--data', `text:${SPAM}`, '--tokenizer', tokenizerDir, '--max-length', '48', '--limit', '200'],
      ...['--teacher-arch', 'bag:16', '--teacher-epochs', '1', '--student-arch', 'bag:8', '--epochs', '1', '--workers', '2'],
      ...['--quantize', 'uint8', '--out', out],
    ]);
    expect(result.status, result.stderr).toBe(0);
    const folder = join(out, 'student');
    expect(await filesUnder(folder)).toEqual([
      'README.md',
      'classes.json',
      'model.json',
      'preprocessing.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'uint8/model.json',
      'uint8/weights.bin',
      'weights.bin',
    ]);
    for (const name of ['tokenizer.json', 'tokenizer_config.json']) {
      expect(await readFile(join(folder, name)), name).toEqual(await readFile(join(tokenizerDir, name)));
    }
    const contract: TextContract = await readJson(join(folder, 'preprocessing.json'));
    expect(contract).toEqual({
      format: 'tfjs-distill/preprocessing',
      version: 1,
      inputShape: [48],
      kind: 'text',
      tokenizerFiles: ['tokenizer.json', 'tokenizer_config.json'],
      maxLength: 48,
      tokenizerPadId: loadTokenizer(tokenizerDir).padId,
      truncationSide: 'right',
      textField: 'text',
    });
    expect(await readJson(join(folder, 'classes.json'))).toEqual(['ham', 'spam']);
    const report: DistillReport = await readJson(join(out, 'report.json'));
    expect(report.studentFolder!.input).toBe('text');
    // Stock tfjs loads the text student from the folder's files too.
    const model = await loadStock(join(folder, 'uint8'));
    expect(model.inputs[0].shape).toEqual([null, 48]);
    model.dispose();
    const card = await readFile(join(folder, 'README.md'), 'utf8');
    expect(card).toContain(`| test accuracy | ${percent(report.student.accuracy)} |`);
    expect(card).toContain('const input = { "text": \'the text to classify\' };');
  });

  it('library: writeStudentFolder writes the same folder, takes one more artifact as one writer, and leaves nothing on failure', async () => {
    const student = buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10, seed: 1 });
    const test = takeRows((await loadMnist()).test, 300);
    const target = join(dir, 'library', 'student');
    const written = await writeStudentFolder(target, {
      student,
      report: digitsReport,
      test,
      classes: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'],
      quantize: ['float16'],
      latency: { backend: 'cpu', batch1Repeats: 5, batch256Repeats: 2 },
      artifacts: [async (folder) => writeFile(join(folder, 'extra.txt'), 'one more artifact\n')],
    });
    expect(await filesUnder(target)).toEqual([
      'README.md',
      'classes.json',
      'extra.txt',
      'float16/model.json',
      'float16/weights.bin',
      'model.json',
      'preprocessing.json',
      'weights.bin',
    ]);
    expect(written.folder.files.map((f) => f.path)).toEqual(await filesUnder(target));
    expect(written.folder.latency.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(written.quantization!.artifacts.map((a) => a.path)).toEqual(['student', 'student/float16']);
    // Float32 rows, not uint8: a vector contract, rows as given.
    expect(await readJson(join(target, 'preprocessing.json'))).toEqual({
      format: 'tfjs-distill/preprocessing',
      version: 1,
      inputShape: [28, 28],
      kind: 'vector',
    });
    expect(await readStudentClasses(target)).toEqual(['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']);

    // A text contract whose tokenizer file is not given: refused, and neither the folder nor its staging is left.
    const refused = join(dir, 'library', 'refused');
    const contract = textContract({ tokenizerFiles: ['tokenizer.json'], maxLength: 8, tokenizerPadId: 0, textField: 'text' });
    await expect(writeStudentFolder(refused, { student, report: digitsReport, test, contract })).rejects.toThrow(
      /the text contract names tokenizer.json but no file was given for it; pass it in contractFiles/,
    );
    expect((await readdir(join(dir, 'library'))).sort()).toEqual(['student']);
    student.dispose();
  });

  it('classes: the folder’s own classes.json, else the one earlier runs wrote beside it', async () => {
    const run = join(dir, 'old-run');
    await mkdir(join(run, 'student'), { recursive: true });
    expect(await readStudentClasses(join(run, 'student'))).toBeUndefined();
    await writeFile(join(run, 'classes.json'), '["cat","dog"]\n');
    expect(await readStudentClasses(join(run, 'student'))).toEqual(['cat', 'dog']);
    await writeFile(join(run, 'student', 'classes.json'), '["ant","bee"]\n');
    expect(await readStudentClasses(join(run, 'student'))).toEqual(['ant', 'bee']);
    await writeFile(join(run, 'student', 'classes.json'), '{"a":1}\n');
    await expect(readStudentClasses(join(run, 'student'))).rejects.toThrow(/should hold a JSON array of class names/);
  });
});
