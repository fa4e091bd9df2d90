import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNpy, parseNpy, readNpy, readNpyFloat32Matrix } from '../dist/data/npy.js';
import { DistillError } from '../dist/errors.js';
import { failure } from './helpers/failure.js';

// The fixtures are written by numpy itself (fixtures/npy/make_fixtures.py); every array there is
// arange-based, so the expected values below are computed, not copied.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'npy');
const fixture = (name: string) => join(FIXTURES, name);

const ROWS = 10;
const range = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i));
/** features = arange(60) * 0.5 - 7, shape (10, 6): exact in float32. */
const FEATURES = range(ROWS * 6, (i) => i * 0.5 - 7);
const LABELS = range(ROWS, (i) => i % 3);

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'distill-npy-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function syncFailure(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DistillError);
    return (error as Error).message;
  }
  throw new Error('expected a DistillError, but the call succeeded');
}

/** Writes `bytes` to a fresh file under the temp root. */
async function tempFile(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(root, name);
  await writeFile(path, bytes);
  return path;
}

describe('readNpy', () => {
  it('reads uint8 images of rank 3', async () => {
    const array = await readNpy(fixture('images_u1.npy'));
    expect(array.dtype).toBe('uint8');
    expect(array.shape).toEqual([ROWS, 4, 4]);
    expect(array.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(array.data as Uint8Array)).toEqual(range(160, (i) => i % 256));
  });

  it.each([
    ['features_f4.npy', 'float32', Float32Array],
    ['features_f8.npy', 'float64', Float64Array],
    ['features_f4_fortran.npy', 'float32', Float32Array],
    ['features_f4_big.npy', 'float32', Float32Array],
    ['features_f4_v2.npy', 'float32', Float32Array],
  ])('reads %s as C-order %s', async (name, dtype, type) => {
    const array = await readNpy(fixture(name));
    expect(array.dtype).toBe(dtype);
    expect(array.shape).toEqual([ROWS, 6]);
    expect(array.data).toBeInstanceOf(type);
    expect(Array.from(array.data as Float32Array)).toEqual(FEATURES);
  });

  it('converts a rank-3 fortran-order array to C order', async () => {
    const array = await readNpy(fixture('fortran_i4_rank3.npy'));
    expect(array.shape).toEqual([2, 3, 4]);
    expect(Array.from(array.data as Int32Array)).toEqual(range(24));
  });

  it('reads a version 3.0 file', async () => {
    const array = await readNpy(fixture('labels_i8_v3.npy'));
    expect(array.dtype).toBe('int64');
    expect(Array.from(array.data as BigInt64Array, Number)).toEqual(LABELS);
  });

  const signed = range(6, (i) => i - 2);
  const unsigned = range(6);
  it.each([
    ['i1', 'int8', Int8Array, signed],
    ['i2', 'int16', Int16Array, signed],
    ['i4', 'int32', Int32Array, signed],
    ['i8', 'int64', BigInt64Array, signed],
    ['f2', 'float16', Float32Array, signed],
    ['f4', 'float32', Float32Array, signed],
    ['f8', 'float64', Float64Array, signed],
    ['be_i2', 'int16', Int16Array, signed],
    ['be_i4', 'int32', Int32Array, signed],
    ['be_i8', 'int64', BigInt64Array, signed],
    ['be_f2', 'float16', Float32Array, signed],
    ['be_f8', 'float64', Float64Array, signed],
    ['u1', 'uint8', Uint8Array, unsigned],
    ['u2', 'uint16', Uint16Array, unsigned],
    ['u4', 'uint32', Uint32Array, unsigned],
    ['u8', 'uint64', BigUint64Array, unsigned],
    ['be_u2', 'uint16', Uint16Array, unsigned],
    ['be_u8', 'uint64', BigUint64Array, unsigned],
    ['b1', 'bool', Uint8Array, range(6, (i) => i % 2)],
  ])('reads dtype %s', async (suffix, dtype, type, expected) => {
    const array = await readNpy(fixture(`dtype_${suffix}.npy`));
    expect(array.dtype).toBe(dtype);
    expect(array.shape).toEqual([2, 3]);
    expect(array.data).toBeInstanceOf(type);
    expect(Array.from(array.data as ArrayLike<number | bigint>, Number)).toEqual(expected);
  });

  it('parses a header with odd spacing, key order and Python 2 longs', () => {
    const header = "{ 'shape':(2L,3L),'fortran_order' : False ,\"descr\":u'<i2' }";
    const padded = `${header + ' '.repeat(64 - ((10 + header.length + 1) % 64))}\n`;
    const bytes = new Uint8Array(10 + padded.length + 12);
    bytes.set([0x93, ...Buffer.from('NUMPY'), 1, 0, padded.length & 0xff, padded.length >> 8]);
    bytes.set(Buffer.from(padded, 'latin1'), 10);
    new Int16Array(bytes.buffer, 10 + padded.length, 6).set([1, -2, 3, -4, 5, -6]);
    const array = parseNpy(bytes, 'hand.npy');
    expect(array.shape).toEqual([2, 3]);
    expect(Array.from(array.data as Int16Array)).toEqual([1, -2, 3, -4, 5, -6]);
  });

  it('rejects a file that is not .npy, naming the file', async () => {
    const path = await tempFile('bad-magic.npy', Buffer.from('just some text, not numpy'));
    expect(await failure(readNpy(path))).toMatch(/bad-magic\.npy is not a \.npy file.*np\.save/);
    const zip = await tempFile('arrays.npy', Buffer.from('PK\x03\x04 rest of a zip'));
    expect(await failure(readNpy(zip))).toMatch(/arrays\.npy is a zip archive.*np\.load/);
  });

  it('reports truncated data with expected and actual byte counts', async () => {
    const bytes = await readFile(fixture('features_f4.npy'));
    const path = await tempFile('truncated.npy', bytes.subarray(0, bytes.length - 7));
    const message = await failure(readNpy(path));
    expect(message).toMatch(/truncated\.npy is truncated: the header declares shape \(10, 6\) of 4-byte float32 = 240 bytes/);
    expect(message).toMatch(/but 233 bytes follow/);
    expect(syncFailure(() => parseNpy(bytes.subarray(0, 40), 'short.npy'))).toMatch(/short\.npy is truncated: its \.npy header/);
  });

  it('rejects trailing bytes (several arrays saved into one file)', async () => {
    const bytes = await readFile(fixture('labels_i8.npy'));
    const path = await tempFile('two.npy', Buffer.concat([bytes, bytes]));
    expect(await failure(readNpy(path))).toMatch(/two\.npy has 208 bytes after its data.*own np\.save/);
  });

  it('rejects object, structured, string and 0-d arrays with a fix', async () => {
    expect(await failure(readNpy(fixture('object.npy')))).toMatch(
      /object\.npy holds a dtype object array \(pickled Python objects\).*save it with a numeric dtype/,
    );
    expect(await failure(readNpy(fixture('structured.npy')))).toMatch(
      /structured\.npy holds a structured array \(fields a, b\).*arr\['a'\]/,
    );
    expect(await failure(readNpy(fixture('strings.npy')))).toMatch(/strings\.npy has dtype '<U2' \(strings\), which readNpy does not read/);
    expect(await failure(readNpy(fixture('scalar_f8.npy')))).toMatch(/scalar_f8\.npy holds a 0-d array.*np\.atleast_1d/);
  });

  it('reports a missing file and a malformed header', async () => {
    expect(await failure(readNpy(join(root, 'nope.npy')))).toMatch(/npy file .*nope\.npy does not exist/);
    const bytes = new Uint8Array(await readFile(fixture('labels_i8.npy')));
    bytes[20] = '{'.charCodeAt(0); // a stray brace inside the dict
    expect(await failure(readNpy(await tempFile('malformed.npy', bytes)))).toMatch(/malformed\.npy has a malformed \.npy header/);
  });
});

describe('loadNpy', () => {
  it('loads uint8 images with int64 labels', async () => {
    const data = await loadNpy(fixture('images_u1.npy'), fixture('labels_i8.npy'));
    expect(data.x).toBeInstanceOf(Uint8Array);
    expect(data.shape).toEqual([ROWS, 4, 4]);
    expect(Array.from(data.x)).toEqual(range(160, (i) => i % 256));
    expect(data.y).toBeInstanceOf(Int32Array);
    expect(Array.from(data.y)).toEqual(LABELS);
    expect(data.numClasses).toBe(3);
  });

  it.each(['features_f4.npy', 'features_f8.npy', 'features_f4_fortran.npy', 'features_f4_big.npy', 'features_f4_v2.npy'])(
    'loads %s as float32 features',
    async (name) => {
      const data = await loadNpy(fixture(name), fixture('labels_u1.npy'));
      expect(data.x).toBeInstanceOf(Float32Array);
      expect(Array.from(data.x)).toEqual(FEATURES);
      expect(data.shape).toEqual([ROWS, 6]);
      expect(Array.from(data.y)).toEqual(LABELS);
    },
  );

  it('keeps -1 as unlabeled, takes (rows, 1) labels and honours numClasses', async () => {
    const unlabeled = await loadNpy(fixture('features_f4.npy'), fixture('labels_i4_unlabeled.npy'));
    expect(Array.from(unlabeled.y)).toEqual([0, 1, 2, -1, -1, 0, 1, -1, 2, 0]);
    expect(unlabeled.numClasses).toBe(3);
    const column = await loadNpy(fixture('features_f4.npy'), fixture('labels_column_i8.npy'), { numClasses: 5 });
    expect(Array.from(column.y)).toEqual(LABELS);
    expect(column.numClasses).toBe(5);
  });

  it('rejects a row mismatch between features and labels', async () => {
    expect(await failure(loadNpy(fixture('features_f4.npy'), fixture('labels_short_i8.npy')))).toMatch(
      /features_f4\.npy holds 10 rows but .*labels_short_i8\.npy holds 9 labels/,
    );
  });

  it('rejects labels out of range', async () => {
    expect(await failure(loadNpy(fixture('features_f4.npy'), fixture('labels_out_of_range_i8.npy'), { numClasses: 3 }))).toMatch(
      /labels_out_of_range_i8\.npy: label 3 at row 3 is outside \[0, 3\) for numClasses 3/,
    );
    // The message names a library option, which DistillError.options lists (the CLI says its flag instead).
    const error = await loadNpy(fixture('features_f4.npy'), fixture('labels_out_of_range_i8.npy'), { numClasses: 3 }).catch((e) => e);
    expect(error.options).toEqual(['numClasses']);
    expect(await failure(loadNpy(fixture('features_f4.npy'), fixture('labels_negative_i8.npy')))).toMatch(
      /labels_negative_i8\.npy: label -5 at row 9 is not a class index/,
    );
  });

  it('rejects integer features, float labels and features as labels', async () => {
    expect(await failure(loadNpy(fixture('features_i8.npy'), fixture('labels_i8.npy')))).toMatch(
      /features_i8\.npy holds int64 features.*x\.astype\(np\.uint8\)/,
    );
    expect(await failure(loadNpy(fixture('features_f4.npy'), fixture('labels_f4.npy')))).toMatch(
      /labels_f4\.npy holds float32 labels.*y\.astype\(np\.int64\)/,
    );
    expect(await failure(loadNpy(fixture('labels_i8.npy'), fixture('labels_i8.npy')))).toMatch(
      /labels_i8\.npy holds features of shape \(10,\).*reshape\(-1, 1\)/,
    );
  });
});

describe('readNpyFloat32Matrix', () => {
  it('reads float64 logits as float32', async () => {
    const matrix = await readNpyFloat32Matrix(fixture('logits_f8.npy'), { rows: ROWS, columns: 3 });
    expect(matrix.shape).toEqual([ROWS, 3]);
    expect(matrix.data).toBeInstanceOf(Float32Array);
    expect(Array.from(matrix.data)).toEqual(range(30, (i) => i * 0.25 - 3));
  });

  it('names shape and dtype problems', async () => {
    expect(await failure(readNpyFloat32Matrix(fixture('logits_f8.npy'), { rows: 12 }))).toMatch(
      /logits_f8\.npy has shape \(10, 3\): 10 rows, but 12 are expected/,
    );
    expect(await failure(readNpyFloat32Matrix(fixture('logits_f8.npy'), { columns: 4 }))).toMatch(/3 columns, but 4 are expected/);
    expect(await failure(readNpyFloat32Matrix(fixture('labels_i8.npy')))).toMatch(/labels_i8\.npy holds an array of shape \(10,\)/);
    expect(await failure(readNpyFloat32Matrix(fixture('dtype_i4.npy')))).toMatch(/dtype_i4\.npy holds int32 values.*astype\(np\.float32\)/);
  });

  it('rejects non-finite values, naming the row', async () => {
    const bytes = new Uint8Array(await readFile(fixture('logits_f8.npy')));
    const dataStart = bytes.length - 30 * 8;
    new DataView(bytes.buffer).setFloat64(dataStart + 7 * 8, Number.NaN, true); // row 2, column 1
    new DataView(bytes.buffer).setFloat64(dataStart + 8 * 8, 1e300, true);
    const nan = await tempFile('nan.npy', bytes);
    expect(await failure(readNpyFloat32Matrix(nan))).toMatch(/nan\.npy holds a non-finite value \(NaN\) in row 2/);
    new DataView(bytes.buffer).setFloat64(dataStart + 7 * 8, 0, true);
    expect(await failure(readNpyFloat32Matrix(await tempFile('big.npy', bytes)))).toMatch(/\(1e\+300, beyond the float32 range\) in row 2/);
  });
});
