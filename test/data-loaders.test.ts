import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCsv } from '../dist/data/csv.js';
import type { Dataset } from '../dist/data/dataset.js';
import { loadIdx, parseIdx } from '../dist/data/idx.js';
import { loadMnist } from '../dist/data/mnist.js';
import { failure } from './helpers/failure.js';

let root: string;
let dirCount = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'distill-loaders-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh directory under the temp root holding `files`. */
async function makeDir(files: Record<string, Uint8Array | string>): Promise<string> {
  const dir = join(root, `case-${dirCount++}`);
  await mkdir(dir);
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

/** An IDX file: big-endian magic, big-endian dimension sizes, then `data`. */
function idx(magic: number, dims: number[], data: number[]): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  bytes.set(data, 4 + 4 * dims.length);
  return bytes;
}

const PIXELS = [0, 1, 2, 3, 10, 20, 30, 40, 255, 254, 128, 7];
const images = (pixels = PIXELS, dims = [3, 2, 2]) => idx(0x803, dims, pixels);
const labels = (values = [0, 4, 2]) => idx(0x801, [values.length], values);

describe('loadIdx', () => {
  it('reads plain train files exactly', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte': images(), 'train-labels-idx1-ubyte': labels() });
    const data = await loadIdx(dir, 'train');
    expect(data.x.constructor).toBe(Uint8Array);
    expect(Array.from(data.x)).toEqual(PIXELS);
    expect(data.y).toBeInstanceOf(Int32Array);
    expect(Array.from(data.y)).toEqual([0, 4, 2]);
    expect(data.shape).toEqual([3, 2, 2]);
    expect(data.numClasses).toBe(5);
  });

  it('reads gzipped t10k files for the test split', async () => {
    const dir = await makeDir({
      't10k-images-idx3-ubyte.gz': gzipSync(images()),
      't10k-labels-idx1-ubyte.gz': gzipSync(labels([1, 1, 0])),
    });
    const data = await loadIdx(dir, 'test');
    expect(Array.from(data.x)).toEqual(PIXELS);
    expect(Array.from(data.y)).toEqual([1, 1, 0]);
    expect(data.shape).toEqual([3, 2, 2]);
    expect(data.numClasses).toBe(2);
  });

  it('accepts the dotted spelling and reports at least 2 classes', async () => {
    const dir = await makeDir({
      'train-images.idx3-ubyte': images(),
      'train-labels.idx1-ubyte.gz': gzipSync(labels([0, 0, 0])),
    });
    const data = await loadIdx(dir, 'train');
    expect(Array.from(data.y)).toEqual([0, 0, 0]);
    expect(data.numClasses).toBe(2);
  });

  it('prefers the uncompressed file when both exist', async () => {
    const other = PIXELS.map((p) => 255 - p);
    const dir = await makeDir({
      'train-images-idx3-ubyte': images(),
      'train-images-idx3-ubyte.gz': gzipSync(images(other)),
      'train-labels-idx1-ubyte': labels(),
    });
    expect(Array.from((await loadIdx(dir, 'train')).x)).toEqual(PIXELS);
  });

  it('keeps 28 x 28 images in row order', async () => {
    const pixels = Array.from({ length: 2 * 784 }, (_, i) => (i * 7) % 256);
    const dir = await makeDir({
      'train-images-idx3-ubyte': idx(0x803, [2, 28, 28], pixels),
      'train-labels-idx1-ubyte': labels([9, 3]),
    });
    const data = await loadIdx(dir, 'train');
    expect(data.shape).toEqual([2, 28, 28]);
    expect(data.numClasses).toBe(10);
    expect(data.x[784 + 5]).toBe(((784 + 5) * 7) % 256);
    expect(Array.from(data.x)).toEqual(pixels);
  });

  it('says when the directory is missing or not a directory', async () => {
    const missing = join(root, 'no-such-dir');
    const message = await failure(loadIdx(missing, 'train'));
    expect(message).toMatch(/no-such-dir does not exist/);
    expect(message).toMatch(/an idx data directory holds the MNIST layout: train-images-idx3-ubyte, train-labels-idx1-ubyte/);
    const dir = await makeDir({ 'file.txt': 'x' });
    expect(await failure(loadIdx(join(dir, 'file.txt'), 'train'))).toMatch(/file\.txt is not a directory; an idx data directory/);
  });

  it('names the files it looked for when one is missing', async () => {
    const noImages = await makeDir({ 'train-labels-idx1-ubyte': labels() });
    const message = await failure(loadIdx(noImages, 'train'));
    expect(message).toMatch(
      /has no train images file \(looked for train-images-idx3-ubyte, train-images-idx3-ubyte\.gz, train-images\.idx3-ubyte, train-images\.idx3-ubyte\.gz\); an idx data directory/,
    );
    const noLabels = await makeDir({ 't10k-images-idx3-ubyte': images() });
    expect(await failure(loadIdx(noLabels, 'test'))).toMatch(/has no test labels file \(looked for t10k-labels-idx1-ubyte,/);
  });

  it('rejects a .gz file that is not gzip', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte.gz': images(), 'train-labels-idx1-ubyte': labels() });
    expect(await failure(loadIdx(dir, 'train'))).toMatch(/train-images-idx3-ubyte\.gz is not valid gzip \(.+\)/);
  });

  it('rejects a wrong magic number, in hex', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte': labels(), 'train-labels-idx1-ubyte': labels() });
    expect(await failure(loadIdx(dir, 'train'))).toMatch(
      /train-images-idx3-ubyte has magic number 0x00000801 \(uint8 labels of rank 1\), expected 0x00000803 \(uint8 images of rank 3\)/,
    );
    const swapped = await makeDir({ 'train-images-idx3-ubyte': images(), 'train-labels-idx1-ubyte': images() });
    expect(await failure(loadIdx(swapped, 'train'))).toMatch(/train-labels-idx1-ubyte has magic number 0x00000803 .*expected 0x00000801/);
  });

  it('spots a gzipped file under a plain name', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte': gzipSync(images()), 'train-labels-idx1-ubyte': labels() });
    expect(await failure(loadIdx(dir, 'train'))).toMatch(
      /train-images-idx3-ubyte has magic number 0x1f8b.* \(not an IDX header\).*it looks gzipped, so give it a \.gz name/,
    );
  });

  it('rejects data shorter than the header declares', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte': images(PIXELS.slice(0, 5)), 'train-labels-idx1-ubyte': labels() });
    expect(await failure(loadIdx(dir, 'train'))).toMatch(
      /train-images-idx3-ubyte is truncated: the header declares 3 x 2 x 2 = 12 bytes of data, but 5 follow/,
    );
    const shortLabels = await makeDir({ 'train-images-idx3-ubyte': images(), 'train-labels-idx1-ubyte': labels().subarray(0, 10) });
    expect(await failure(loadIdx(shortLabels, 'train'))).toMatch(
      /train-labels-idx1-ubyte is truncated: the header declares 3 bytes of data, but 2 follow/,
    );
  });

  it('rejects a truncated header', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte': images().subarray(0, 10), 'train-labels-idx1-ubyte': labels() });
    expect(await failure(loadIdx(dir, 'train'))).toMatch(
      /train-images-idx3-ubyte is truncated: 10 bytes is too short for the 16-byte header of a rank-3 IDX file/,
    );
  });

  it('rejects data longer than the header declares', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte': images([...PIXELS, 9]), 'train-labels-idx1-ubyte': labels() });
    expect(await failure(loadIdx(dir, 'train'))).toMatch(
      /train-images-idx3-ubyte has 13 bytes of data, but the header declares 3 x 2 x 2 = 12; its dimensions do not match the byte count/,
    );
  });

  it('rejects image and label counts that differ', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte': images(), 'train-labels-idx1-ubyte': labels([0, 1]) });
    expect(await failure(loadIdx(dir, 'train'))).toMatch(
      /train-images-idx3-ubyte holds 3 images but .*train-labels-idx1-ubyte holds 2 labels/,
    );
  });

  it('rejects a dimension of 0', async () => {
    const dir = await makeDir({ 'train-images-idx3-ubyte': idx(0x803, [0, 28, 28], []), 'train-labels-idx1-ubyte': labels([]) });
    expect(await failure(loadIdx(dir, 'train'))).toMatch(/train-images-idx3-ubyte declares dimensions 0 x 28 x 28; a dimension of 0/);
  });

  it('parseIdx returns the dimensions and a copy of the data', async () => {
    const parsed = parseIdx(labels([3, 1, 4, 1]), 'mem', 0x801);
    expect(parsed.dims).toEqual([4]);
    expect(Array.from(parsed.data)).toEqual([3, 1, 4, 1]);
    expect(parsed.data.byteOffset).toBe(0);
    expect(await failure((async () => parseIdx(new Uint8Array(3), 'tiny', 0x801))())).toMatch(
      /tiny is truncated: 3 bytes is too short for an IDX header/,
    );
  });
});

/** Writes `text` to `name` in a fresh directory and returns its path. */
async function csvFile(text: string, name = 'data.csv'): Promise<string> {
  return join(await makeDir({ [name]: text }), name);
}

describe('loadCsv', () => {
  it('skips a header and reads CRLF lines with spaces and blank lines', async () => {
    const data = await loadCsv(await csvFile('label, a , b\r\n\r\n 1 , 0.5, -2\r\n0,3 ,4e-1\r\n\r\n'));
    expect(data.x).toBeInstanceOf(Float32Array);
    expect(Array.from(data.x)).toEqual([0.5, -2, 3, Math.fround(0.4)]);
    expect(Array.from(data.y)).toEqual([1, 0]);
    expect(data.shape).toEqual([2, 2]);
    expect(data.numClasses).toBe(2);
  });

  it('reads a file without a header', async () => {
    const data = await loadCsv(await csvFile('2,1,2,3\n0,4,5,6\n4,-1,0,1e3'));
    expect(Array.from(data.x)).toEqual([1, 2, 3, 4, 5, 6, -1, 0, 1000]);
    expect(Array.from(data.y)).toEqual([2, 0, 4]);
    expect(data.shape).toEqual([3, 3]);
    expect(data.numClasses).toBe(5);
  });

  it('ignores a byte-order mark', async () => {
    const data = await loadCsv(await csvFile('\uFEFF0,1.5\n1,2.5\n'));
    expect(Array.from(data.x)).toEqual([1.5, 2.5]);
    expect(Array.from(data.y)).toEqual([0, 1]);
    expect(data.numClasses).toBe(2);
  });

  it('rejects a file whose rows all have one class, with a header or without', async () => {
    expect(await failure(loadCsv(await csvFile('3,1.5\n3,2.5\n')))).toMatch(
      /^csv file .*data\.csv: every row has label 3, but a classifier needs at least 2 classes; check the label column \(the first\)$/,
    );
    // With a header row the labels may be names or indices; one class is refused all the same.
    expect(await failure(loadCsv(await csvFile('label,a\n0,1.5\n0,2.5\n')))).toMatch(
      /every label is the class index 0, but a classifier needs two or more; give classes to name them all/,
    );
    expect(await failure(loadCsv(await csvFile('label,a\nx,1.5\nx,2.5\n')))).toMatch(
      /every label is 'x', but a classifier needs two or more/,
    );
  });

  it('says when the file is missing', async () => {
    expect(await failure(loadCsv(join(root, 'missing.csv')))).toMatch(/csv file .*missing\.csv does not exist/);
  });

  it('rejects an empty file and one without data rows', async () => {
    expect(await failure(loadCsv(await csvFile('', 'empty.csv')))).toMatch(/empty\.csv is empty/);
    expect(await failure(loadCsv(await csvFile('\n \r\n', 'blank.csv')))).toMatch(/blank\.csv is empty/);
    expect(await failure(loadCsv(await csvFile('label,a,b\n\n', 'header.csv')))).toMatch(/header\.csv has a header but no data rows/);
  });

  it('rejects fewer than 2 columns', async () => {
    expect(await failure(loadCsv(await csvFile('\n1\n2\n')))).toMatch(
      /data\.csv line 2: 1 column; every row needs a label in the first column followed by at least one numeric feature/,
    );
  });

  it('rejects a ragged row', async () => {
    const text = ['0,1,2,3,4', '1,1,2,3,4', '0,1,2,3,4', '1,1,2,3,4', '', '0,1,2,3,4', '1,1,2,3'].join('\n');
    expect(await failure(loadCsv(await csvFile(text)))).toMatch(
      /data\.csv line 7: 4 columns, but line 1 has 5; every row needs a label followed by the same number of features/,
    );
  });

  it('rejects a non-numeric cell', async () => {
    expect(await failure(loadCsv(await csvFile('0,1,2\n1,3,4\n1,abc,5\n')))).toMatch(/data\.csv line 3, column 2: 'abc' is not a number$/);
    // A first line with a text cell is the header row: a number among its names is refused, as it was before.
    expect(await failure(loadCsv(await csvFile('label,x,3\n1,3,4\n')))).toMatch(
      /data\.csv line 1 has the text 'label', so it is the header row, but its cell '3' is a number; name every column in the header/,
    );
  });

  it('rejects NaN, Infinity and empty cells', async () => {
    expect(await failure(loadCsv(await csvFile('0,1,2\n1,NaN,4\n')))).toMatch(/data\.csv line 2, column 2: 'NaN' is not finite/);
    expect(await failure(loadCsv(await csvFile('0,1,2\n1,3,-Infinity\n')))).toMatch(
      /data\.csv line 2, column 3: '-Infinity' is not finite/,
    );
    expect(await failure(loadCsv(await csvFile('0,1,2\n1, ,4\n')))).toMatch(/data\.csv line 2, column 2: the cell is empty/);
    expect(await failure(loadCsv(await csvFile('0,1,\n')))).toMatch(/data\.csv line 1, column 3: the cell is empty/);
  });

  it('rejects a label that is not a non-negative integer', async () => {
    expect(await failure(loadCsv(await csvFile('0,1\n1.5,2\n')))).toMatch(
      /data\.csv line 2, column 1: label '1\.5' is not a non-negative integer/,
    );
    expect(await failure(loadCsv(await csvFile('0,1\n-1,2\n')))).toMatch(
      /data\.csv line 2, column 1: label '-1' is not a non-negative integer/,
    );
  });
});

describe('loadMnist', () => {
  let first: { train: Dataset; test: Dataset };
  let second: { train: Dataset; test: Dataset };
  let perClass: number[][];

  beforeAll(async () => {
    [first, second] = await Promise.all([loadMnist(), loadMnist()]);
    const dir = dirname(createRequire(import.meta.url).resolve('mnist/src/digits/0.json'));
    perClass = await Promise.all(
      Array.from({ length: 10 }, async (_, d) => JSON.parse(await readFile(join(dir, `${d}.json`), 'utf8')).data as number[]),
    );
  });

  const classCounts = (data: Dataset, rows = data.y.length): number[] => {
    const counts = new Array(10).fill(0);
    for (let i = 0; i < rows; i++) counts[data.y[i]]++;
    return counts;
  };

  it('splits the 10,000 digits 80/20 per class', () => {
    const { train, test } = first;
    expect(train.shape).toEqual([7996, 28, 28]);
    expect(test.shape).toEqual([2004, 28, 28]);
    expect(train.x).toBeInstanceOf(Float32Array);
    expect(train.x.length).toBe(7996 * 784);
    expect(train.numClasses).toBe(10);
    expect(test.numClasses).toBe(10);
    const totals = perClass.map((data) => data.length / 784);
    expect(totals.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(classCounts(train)).toEqual(totals.map((n) => Math.floor(n * 0.8)));
    expect(classCounts(test)).toEqual(totals.map((n) => n - Math.floor(n * 0.8)));
    for (const split of [train, test]) {
      expect(split.y.every((label) => label >= 0 && label <= 9)).toBe(true);
      expect(classCounts(split).every((count) => count > 0)).toBe(true);
    }
  });

  it('shuffles so the first 1000 training rows hold every class at least 60 times', () => {
    const counts = classCounts(first.train, 1000);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(60);
  });

  it('keeps the pixel values of the package', () => {
    const { train, test } = first;
    expect(train.x.every((v) => v >= 0 && v <= 1)).toBe(true);
    // Each checked row must be one of its class's digits in the package, value for value.
    for (const [split, row] of [
      [train, 0],
      [train, 4321],
      [test, 7],
    ] as const) {
      const label = split.y[row];
      const pixels = Array.from(split.x.subarray(row * 784, (row + 1) * 784));
      const source = perClass[label];
      let found = false;
      for (let offset = 0; offset < source.length && !found; offset += 784) {
        found = source.slice(offset, offset + 784).every((v, p) => Math.fround(v) === pixels[p]);
      }
      expect(found).toBe(true);
    }
  });

  it('gives identical data on every call', () => {
    for (const split of ['train', 'test'] as const) {
      const a = first[split];
      const b = second[split];
      expect(a.x === b.x).toBe(false); // fresh arrays, not a shared cache
      expect(Buffer.from(a.x.buffer).equals(Buffer.from(b.x.buffer))).toBe(true);
      expect(Array.from(a.y)).toEqual(Array.from(b.y));
    }
  });
});
