import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, saveModel } from '../dist/index.js';
import { SMALL_DIGITS_RUN as SMALL, runCliAsync } from './helpers/cli.js';

let dir: string;

/**
 * A failed run: exit code 1, one line on stderr naming the problem, no report written. The bad-input cases run
 * side by side (they fail in start-up, loading modules on one core), so this helper does not block.
 */
function expectFailure(pattern: RegExp, ...args: string[]) {
  return expectFailureWithEnv({}, pattern, ...args);
}

async function expectFailureWithEnv(env: NodeJS.ProcessEnv, pattern: RegExp, ...args: string[]) {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const result = await runCliAsync(['run', '--out', out, ...args], { env });
  expect(result.status).toBe(1);
  // Progress lines may come first; the error is the last line, alone, with no stack trace.
  const lines = result.stderr.trim().split('\n');
  const error = lines[lines.length - 1];
  expect(error).toMatch(/^tfjs-distill: error: /);
  expect(error).toMatch(pattern);
  expect(lines.filter((line) => line.startsWith('tfjs-distill:') || /^\s+at /.test(line))).toEqual([error]);
  expect(existsSync(join(out, 'report.json'))).toBe(false);
  return error;
}

function idxBytes(magic: number, dims: number[], data: Uint8Array) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

async function writeIdxDir(name: string, images: Buffer) {
  const target = join(dir, name);
  await mkdir(target, { recursive: true });
  const labels = idxBytes(
    0x801,
    [10],
    new Uint8Array(10).map((_, i) => i % 3),
  );
  await writeFile(join(target, 'train-images-idx3-ubyte.gz'), gzipSync(images));
  await writeFile(join(target, 'train-labels-idx1-ubyte'), labels);
  await writeFile(join(target, 't10k-images-idx3-ubyte'), idxBytes(0x803, [10, 4, 4], new Uint8Array(160)));
  await writeFile(join(target, 't10k-labels-idx1-ubyte'), labels);
  return target;
}

// Side by side: each case is a process that fails in start-up, and one at a time they leave a core idle.
describe.concurrent('the CLI on bad input: one line, exit 1, no report', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-cli-bad-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('unknown flags and commands', async () => {
    const [, result] = await Promise.all([
      expectFailure(/unknown flag --epoch; did you mean --epochs\?$/, '--epoch', '3'),
      runCliAsync(['train']),
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/unknown command 'train'/);
  });
  it('a flag that does not apply to the data', async () => {
    await expectFailure(
      /--test-fraction applies to --data csv:FILE, npy:X,Y and text:FILE without --test-data; mnist, idx and image folders/,
      '--data',
      'mnist',
      '--test-fraction',
      '0.3',
    );
  });
  it('non-numeric flag values', async () => {
    await Promise.all([
      expectFailure(/--epochs expects an integer, got 'abc'/, '--epochs', 'abc'),
      expectFailure(/--temperature expects a number, got 'hot'/, '--temperature', 'hot'),
    ]);
  });
  it('a non-positive temperature and alpha outside [0, 1]', async () => {
    await Promise.all([
      expectFailure(/temperature must be a number > 0, got 0/, ...SMALL, '--temperature', '0'),
      expectFailure(/alpha must lie in \[0, 1\], got 1.5/, ...SMALL, '--alpha', '1.5'),
    ]);
  });
  it('workers < 1 and a batch smaller than the worker count', async () => {
    await Promise.all([
      expectFailure(/workers must be an integer >= 1, got 0/, ...SMALL, '--workers', '0'),
      expectFailure(
        /--batch-size 2 is smaller than --workers 3: every training worker needs at least one row per step; raise --batch-size or lower --workers \(or set --train-workers\)$/,
        ...SMALL,
        '--workers',
        '3',
        '--batch-size',
        '2',
      ),
    ]);
  });
  it('missing data, truncated and wrong-magic IDX files', async () => {
    const truncated = await writeIdxDir('truncated', idxBytes(0x803, [10, 4, 4], new Uint8Array(100)));
    const wrongMagic = await writeIdxDir('magic', idxBytes(0x802, [10, 4, 4], new Uint8Array(160)));
    await Promise.all([
      expectFailure(/idx data directory .*nowhere does not exist/, '--data', `idx:${join(dir, 'nowhere')}`),
      expectFailure(/train-images-idx3-ubyte.gz is truncated/, '--data', `idx:${truncated}`),
      expectFailure(/train-images-idx3-ubyte.gz.*magic/, '--data', `idx:${wrongMagic}`),
    ]);
  });
  it('a .gz file that is not gzip, and image and label files of different lengths', async () => {
    const notGzip = await writeIdxDir('not-gzip', idxBytes(0x803, [10, 4, 4], new Uint8Array(160)));
    await writeFile(join(notGzip, 'train-images-idx3-ubyte.gz'), idxBytes(0x803, [10, 4, 4], new Uint8Array(160)));
    const uneven = await writeIdxDir('uneven', idxBytes(0x803, [9, 4, 4], new Uint8Array(144)));
    await Promise.all([
      expectFailure(/train-images-idx3-ubyte\.gz is not valid gzip/, '--data', `idx:${notGzip}`),
      expectFailure(/train-images-idx3-ubyte.gz holds 9 images but .*train-labels-idx1-ubyte holds 10 labels/, '--data', `idx:${uneven}`),
    ]);
  });
  it('CSV with NaN, Infinity or empty cells, or a single class', async () => {
    const nan = join(dir, 'nan.csv');
    // Without a header row every cell is a number (with one, NaN marks a missing cell: test/tabular-data.test.ts).
    await writeFile(nan, '0,1,2\n1,3,4\n1,NaN,4\n');
    const empty = join(dir, 'empty-cell.csv');
    await writeFile(empty, '0,1,2\n1,,4\n');
    const single = join(dir, 'single.csv');
    await writeFile(single, '2,1,2\n2,3,4\n');
    await Promise.all([
      expectFailure(/nan\.csv line 3, column 2: 'NaN' is not finite/, '--data', `csv:${nan}`),
      expectFailure(/empty-cell\.csv line 2, column 2: the cell is empty/, '--data', `csv:${empty}`),
      expectFailure(/single\.csv: every row has label 2, but a classifier needs at least 2 classes/, '--data', `csv:${single}`),
    ]);
  });
  it('a model.json without its weights file, or with the weights of another topology', async () => {
    const noWeights = join(dir, 'no-weights');
    await saveModel(buildModel('mlp:4', { inputShape: [28, 28], numClasses: 10 }), noWeights);
    await rm(join(noWeights, 'weights.bin'));
    const other = join(dir, 'other-topology');
    await saveModel(buildModel('mlp:4', { inputShape: [28, 28], numClasses: 10 }), other);
    await saveModel(buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10 }), join(dir, 'bigger'));
    await cp(join(dir, 'bigger', 'weights.bin'), join(other, 'weights.bin'));
    await Promise.all([
      expectFailure(
        /no-weights\/model\.json lists the weights file weights\.bin, which cannot be read/,
        ...SMALL.slice(0, 4),
        '--teacher',
        noWeights,
      ),
      expectFailure(
        /the weights of .*other-topology\/model\.json are longer than its manifest says/,
        ...SMALL.slice(0, 4),
        '--teacher',
        other,
      ),
    ]);
  });
  it('an --out that is a file or cannot be written, and a --resume with no checkpoint', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const run = (out: string, ...extra: string[]) => runCliAsync(['run', ...SMALL, '--out', out, ...extra]);
    const lastLine = (result: { stderr: string }) => result.stderr.trim().split('\n').at(-1);
    const fresh = join(dir, 'never-ran');
    const [intoFile, below, resumed] = await Promise.all([run(file), run(join(file, 'below')), run(fresh, '--resume')]);
    expect(lastLine(intoFile)).toMatch(/^tfjs-distill: error: --out .*a-file is a file; give a directory$/);
    expect(lastLine(below)).toMatch(/^tfjs-distill: error: cannot write to --out .*a-file\/below \(.*\); give a writable directory$/);
    expect(resumed.status).toBe(1);
    expect(lastLine(resumed)).toMatch(
      /^tfjs-distill: error: nothing to resume: .*never-ran\/\.checkpoint holds no checkpoint; start the run without --resume$/,
    );
    expect(await readdir(fresh)).toEqual([]);
  });
  it('ragged and non-numeric CSV', async () => {
    const ragged = join(dir, 'ragged.csv');
    await writeFile(ragged, '0,1,2\n1,3\n');
    const text = join(dir, 'text.csv');
    await writeFile(text, '0,1,2\n1,x,4\n');
    await Promise.all([
      expectFailure(/ragged.csv line 2: 2 columns, but line 1 has 3/, '--data', `csv:${ragged}`),
      expectFailure(/text.csv line 2, column 2: 'x' is not a number/, '--data', `csv:${text}`),
    ]);
  });
  it('a teacher whose input shape or class count does not fit the data', async () => {
    const wrongInput = join(dir, 'wrong-input');
    await saveModel(buildModel('mlp:4', { inputShape: [32, 32, 3], numClasses: 10 }), wrongInput);
    const wrongClasses = join(dir, 'wrong-classes');
    await saveModel(buildModel('mlp:4', { inputShape: [784], numClasses: 5 }), wrongClasses);
    await Promise.all([
      expectFailure(
        /the teacher takes rows of shape \[32,32,3\] \(3072 values\) but the data's rows have shape \[28,28\] \(784 values\)/,
        ...SMALL.slice(0, 4),
        '--teacher',
        wrongInput,
      ),
      expectFailure(
        /the student outputs shape \[5\] but the data has 10 classes; its last layer needs 10 units/,
        ...SMALL.slice(0, 6),
        '--student',
        wrongClasses,
      ),
    ]);
  });
  it('a truncated weights.bin', async () => {
    const teacher = join(dir, 'truncated-teacher');
    await saveModel(buildModel('mlp:4', { inputShape: [28, 28], numClasses: 10 }), teacher);
    await truncate(join(teacher, 'weights.bin'), 10);
    await expectFailure(
      /the weights of .*truncated-teacher\/model.json are truncated: the manifest needs \d+ bytes, the files hold 10/,
      ...SMALL.slice(0, 4),
      '--teacher',
      teacher,
    );
  });
  it('a diverging loss stops the run, naming the step', async () => {
    await expectFailure(
      /training diverged: the averaged gradient or loss \(.+\) is not finite at step \d+ \(epoch \d+\); lower the learning rate \(--lr\), or skip such steps with --on-nonfinite 'skip' \(worker [01]\)$/,
      ...SMALL,
      '--optimizer',
      'sgd',
      '--lr',
      '1e30',
    );
  });
  it('--kernels: an unknown set, and openblas where OpenBLAS cannot load', async () => {
    await Promise.all([
      expectFailure(/error: --kernels 'fast' is not one of auto, openblas, wasm$/, ...SMALL, '--kernels', 'fast'),
      // TFJS_DISTILL_OPENBLAS points the addon at a library that is not there.
      expectFailureWithEnv(
        { TFJS_DISTILL_OPENBLAS: '/nonexistent/libopenblas.so.0' },
        /kernels 'openblas' requested, but (OpenBLAS unavailable: \/nonexistent\/libopenblas\.so\.0.*|native kernels unavailable: .*); set --kernels 'auto' or 'wasm' \(or TFJS_DISTILL_KERNELS\)/,
        ...SMALL,
        '--kernels',
        'openblas',
      ),
    ]);
  });
  it('--teacher-runtime: an unknown runtime is named with its flag', async () => {
    await expectFailure(/error: --teacher-runtime 'gpu' is not one of auto, tfjs, onnxruntime$/, ...SMALL, '--teacher-runtime', 'gpu');
  });
  it('--backend tensorflow without tfjs-node says how to get it', async () => {
    await expectFailure(
      /none of the backends \[tensorflow\] could be loaded .*install @tensorflow\/tfjs-node .* or set --backend 'wasm'/,
      ...SMALL,
      '--backend',
      'tensorflow',
    );
  });
});
