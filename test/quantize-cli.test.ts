import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactReport, DistillReport } from '../dist/index.js';
import { buildModel, loadMnist, saveModel } from '../dist/index.js';
import { chooseAutoVariant } from '../dist/distill/student-variants.js';
import { chromium, elements } from './helpers/chromium.js';
import { runCli, runCliAsync } from './helpers/cli.js';

let dir: string;

/** A short run on the bundled digits: every test row is measured, the training is brief. */
const DIGITS = [
  '--data',
  'mnist',
  '--limit',
  '600',
  '--teacher-arch',
  'mlp:32',
  '--teacher-epochs',
  '2',
  '--student-arch',
  'mlp:16',
  '--epochs',
  '2',
  '--lr',
  '0.005',
  '--workers',
  '2',
];

const readReport = async (out: string): Promise<DistillReport> => JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));

/** The variant folders in `out`'s student folder, as the report names them (`student/uint8`). */
const variantFolders = async (out: string) =>
  (await readdir(join(out, 'student'), { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => `student/${entry.name}`)
    .sort();

/**
 * Loads a model folder with stock tfjs alone, as a web page would: model.json and the weight files it
 * lists, handed to tf.loadLayersModel through tf.io.fromMemory. No tfjs-distill code touches the model.
 */
async function loadStock(folder: string): Promise<tf.LayersModel> {
  const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8'));
  const files = json.weightsManifest.flatMap((group: { paths: string[] }) => group.paths);
  const bytes = Buffer.concat(await Promise.all(files.map((file: string) => readFile(join(folder, file)))));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group: { weights: tf.io.WeightsManifestEntry[] }) => group.weights),
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    }),
  );
}

/** The top-1 class of every bundled test digit (its pixels are in [0, 1]; byte pixels get 1/255, as a run scales them). */
async function predictDigits(model: tf.LayersModel): Promise<Int32Array> {
  const { test } = await loadMnist();
  const pixels = test.x instanceof Uint8Array ? Float32Array.from(test.x, (v) => v / 255) : test.x;
  return tf.tidy(() => {
    const x = tf.tensor(pixels, [test.y.length, 28, 28]);
    return (model.predict(x) as tf.Tensor).argMax(-1).dataSync() as Int32Array;
  });
}

const fractionEqual = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
};

/** A failed run: exit 1, one line naming the problem, and no output folder at all. Refusals run side by side. */
async function expectRefused(pattern: RegExp, ...args: string[]) {
  const out = join(dir, `refused-${Math.random().toString(36).slice(2)}`);
  const result = await runCliAsync(['run', '--out', out, ...args]);
  expect(result.status).toBe(1);
  expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(pattern)]);
  expect(existsSync(out)).toBe(false);
}

describe('--quantize in a run', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-quantize-'));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an unknown format, auto with formats, a negative drop: one line naming the flag, before anything runs', async () => {
    const config = join(dir, 'bad-quantize.yaml');
    await writeFile(config, 'quantize: [uint8, int2]\n');
    await Promise.all([
      expectRefused(/^tfjs-distill: error: --quantize 'int4' is not one of uint8, uint16, float16, auto$/, '--quantize', 'uint8,int4'),
      expectRefused(
        /^tfjs-distill: error: --quantize 'q8' is not one of uint8, uint16, float16, auto$/,
        '--quantize',
        'float16',
        '--quantize',
        'q8',
      ),
      expectRefused(
        /^tfjs-distill: error: --quantize auto chooses among uint8, uint16, float16 itself; give auto alone/,
        '--quantize',
        'auto,uint8',
      ),
      expectRefused(/^tfjs-distill: error: --max-quantize-drop must be a number of points >= 0, got -1$/, '--max-quantize-drop', '-1'),
      expectRefused(
        /^tfjs-distill: error: .*bad-quantize\.yaml: quantize 'int2' is not one of uint8, uint16, float16, auto$/,
        '--config',
        config,
      ),
    ]);
  });

  it('uint8 and float16 folders that stock tfjs loads, measured in report.json, report.html and the summary', async () => {
    const out = join(dir, 'both');
    const result = runCli(['run', ...DIGITS, '--quantize', 'uint8,float16', '--out', out]);
    expect(result.status, result.stderr).toBe(0);
    expect(await variantFolders(out)).toEqual(['student/float16', 'student/uint8']);
    expect((await readdir(out)).filter((name) => name.includes('partial'))).toEqual([]);

    const report = await readReport(out);
    const q = report.quantization!;
    expect(q.requested).toEqual(['uint8', 'float16']);
    expect(report.config).toMatchObject({ quantize: ['uint8', 'float16'], maxQuantizeDrop: 1 });
    expect(q.artifacts.map((a) => [a.path, a.format])).toEqual([
      ['student', 'float32'],
      ['student/uint8', 'uint8'],
      ['student/float16', 'float16'],
    ]);

    // Every figure is what stock tfjs gives on the files: load each folder and score it on all test rows.
    const { test } = await loadMnist();
    const float32 = await loadStock(join(out, 'student'));
    const reference = await predictDigits(float32);
    for (const artifact of q.artifacts) {
      const folder = join(out, artifact.path);
      const model = await loadStock(folder);
      const predicted = await predictDigits(model);
      expect(artifact.accuracy, artifact.path).toBe(fractionEqual(predicted, test.y));
      expect(artifact.agreement, artifact.path).toBe(fractionEqual(predicted, reference));
      expect(artifact.accuracyDrop).toBeCloseTo((q.artifacts[0].accuracy - artifact.accuracy) * 100, 10);
      expect(artifact.weightBytes).toBe((await stat(join(folder, 'weights.bin'))).size);
      expect(artifact.bytes).toBe(artifact.weightBytes + (await stat(join(folder, 'model.json'))).size);
      model.dispose();
    }
    const [full, uint8, float16] = q.artifacts;
    expect(full.agreement).toBe(1);
    expect(uint8.weightBytes).toBeLessThanOrEqual(0.3 * full.weightBytes);
    expect(float16.weightBytes).toBe(full.weightBytes / 2);
    // The digits student loses little to either format, so nothing is warned about.
    expect(uint8.accuracyDrop).toBeLessThanOrEqual(1);
    expect(q.warnings).toEqual([]);

    // The summary: a row per folder, float32 first.
    const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
    const rows = result.stdout.split('\n').filter((line) => /^student(\/\w+)?\/ /.test(line));
    expect(rows.map((line) => line.split(/\s{2,}/).filter(Boolean))).toEqual(
      q.artifacts.map((a) => [`${a.path}/`, a.format, expect.any(String), expect.any(String), pct(a.accuracy), pct(a.agreement)]),
    );
    expect(result.stdout).toContain(`${join(out, 'student/uint8')}/, ${join(out, 'student/float16')}/`);

    // The page as Chromium renders it: the table's cells carry the report's figures.
    const { stdout: dom, stderr } = chromium(['--dump-dom'], pathToFileURL(join(out, 'report.html')).href, dir);
    expect(stderr.split('\n').filter((line) => line.includes(':CONSOLE'))).toEqual([]);
    const cells = elements(dom, 'td', 'num').filter((c) => c['data-artifact']);
    for (const metric of ['accuracy', 'agreement', 'bytes', 'weightBytes'] as const) {
      expect(
        cells.filter((c) => c['data-metric'] === metric).map((c) => [c['data-artifact'], Number(c['data-value'])]),
        metric,
      ).toEqual(q.artifacts.map((a: ArtifactReport) => [a.path, a[metric]]));
    }
    expect(dom).toMatch(new RegExp(`data-artifact="student/uint8" data-metric="accuracy" data-value="[^"]+">${pct(uint8.accuracy)}<`));
  });

  it('auto keeps only the smallest variant within the drop, and a rerun removes the earlier variants', async () => {
    const out = join(dir, 'both'); // the previous test's folder: its two variants must not outlive this run
    const result = runCli(['run', ...DIGITS, '--quantize', 'auto', '--max-quantize-drop', '0.5', '--out', out]);
    expect(result.status, result.stderr).toBe(0);
    const q = (await readReport(out)).quantization!;
    expect(q.auto!.candidates.map((c) => c.format)).toEqual(['uint8', 'uint16', 'float16']);
    // The choice, worked out here from the measured candidates.
    const within = q.auto!.candidates.filter((c) => c.accuracyDrop <= 0.5 + 1e-9);
    const smallest = Math.min(...within.map((c) => c.weightBytes));
    const expected = within.filter((c) => c.weightBytes === smallest).sort((a, b) => a.accuracyDrop - b.accuracyDrop)[0]?.format;
    expect(expected).toBeDefined(); // uint16 loses nothing measurable on the digits
    expect(q.auto!.chosen).toBe(expected);
    expect(await variantFolders(out)).toEqual([`student/${expected}`]);
    expect(q.artifacts.map((a) => a.path)).toEqual(['student', `student/${expected}`]);
    expect(result.stdout).toContain(`quantize auto: wrote student/${expected}/, the smallest variant within 0.5 points`);
  });

  it('a variant that cannot hold the weights is not written, and one that loses too much is warned about', async () => {
    // A student with one weight of 1e6 on the top-left pixel, which is blank in every digit: it never moves the
    // outputs, but float16 cannot store it and it stretches uint8's range until every other weight rounds to 0.
    const student = buildModel('mlp:16', { inputShape: [28, 28], numClasses: 10, seed: 3 });
    const kernel = student.layers.find((layer) => layer.getWeights().length > 0)!;
    const [weights, bias] = kernel.getWeights();
    const values = weights.arraySync() as number[][];
    values[0][0] = 1e6;
    kernel.setWeights([tf.tensor(values), bias]);
    const studentDir = join(dir, 'outlier-student');
    await saveModel(student, studentDir);

    const out = join(dir, 'outlier');
    const args = DIGITS.filter((_, i) => DIGITS[i - 1] !== '--student-arch' && DIGITS[i] !== '--student-arch');
    const result = runCli(['run', ...args, '--student', studentDir, '--quantize', 'float16,uint8', '--out', out]);
    expect(result.status, result.stderr).toBe(0);
    expect(await variantFolders(out)).toEqual(['student/uint8']);
    const q = (await readReport(out)).quantization!;
    expect(q.artifacts.map((a) => a.path)).toEqual(['student', 'student/uint8']);
    const uint8 = q.artifacts[1];
    expect(uint8.accuracyDrop).toBeGreaterThan(1);
    expect(q.warnings).toEqual([
      expect.stringMatching(/^the float16 variant was not written: weight \S+ holds 1000000, beyond float16's range of \+-65504/),
      `student/uint8 loses ${uint8.accuracyDrop.toFixed(2)} points of test accuracy against float32, more than --max-quantize-drop 1`,
    ]);
    for (const warning of q.warnings) expect(result.stdout).toContain(`warning: ${warning}`);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<ul class="warnings">');
    expect(html).toContain(`student/uint8 loses ${uint8.accuracyDrop.toFixed(2)} points`);
  });
});

describe('the auto choice', () => {
  const candidate = (format: 'uint8' | 'uint16' | 'float16', weightBytes: number, accuracyDrop: number) => ({
    format,
    weightBytes,
    accuracyDrop,
  });

  it('takes the fewest bytes within the drop, the smaller drop on a tie, and none when none is within', () => {
    const all = [candidate('uint8', 100, 1.4), candidate('uint16', 200, 0.1), candidate('float16', 200, 0.05)];
    expect(chooseAutoVariant(all, 2)).toBe('uint8');
    expect(chooseAutoVariant(all, 1)).toBe('float16');
    expect(chooseAutoVariant(all, 0.01)).toBeNull();
    // A drop of exactly the limit is within it, though row fractions times 100 land a hair above.
    expect(chooseAutoVariant([candidate('uint8', 100, (0.9 - 0.89) * 100)], 1)).toBe('uint8');
    expect(chooseAutoVariant([], 1)).toBeNull();
  });
});
