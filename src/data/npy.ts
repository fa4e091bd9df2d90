// Reading .npy files as np.save writes them: one array (readNpy, parseNpy), a dataset of features and labels
// (loadNpy), or a float matrix such as teacher logits (readNpyFloat32Matrix). The header's format is in
// npy-header.ts, the data's decoding in npy-decode.ts.
import { type FileHandle, open } from 'node:fs/promises';
import { DistillError, check, messageOf } from '../errors.js';
import { type Dataset, validateDataset } from './dataset.js';
import { type NpyArray, decodeData } from './npy-decode.js';
import {
  type NpyDtype,
  PREAMBLE_MAX,
  checkDataSize,
  checkNotScalar,
  formatShape,
  parseHeader,
  parsePreamble,
  product,
} from './npy-header.js';

export type { NpyArray, NpyData } from './npy-decode.js';
export type { NpyDtype } from './npy-header.js';

/** A 2-D float32 matrix, e.g. teacher logits computed in Python: rows x columns values, row-major. */
export interface NpyMatrix {
  data: Float32Array;
  shape: [number, number];
}

/** Options of loadNpy. */
export interface NpyLoadOptions {
  /** Number of classes; labels must lie in [0, numClasses). Default: the largest label + 1. */
  numClasses?: number;
}

/** Options of readNpyFloat32Matrix: the shape the caller expects, checked with a message naming the file. */
export interface NpyMatrixOptions {
  /** Required number of rows; default: any. */
  rows?: number;
  /** Required number of columns; default: any. */
  columns?: number;
}

/**
 * Parses a .npy file already in memory; `file` names it in messages. Supports format versions 1.0-3.0,
 * the dtypes of NpyDtype in either byte order, and fortran_order (returned in C order).
 */
export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  const { version, headerStart, headerLength } = parsePreamble(bytes.subarray(0, PREAMBLE_MAX), file);
  const dataOffset = headerStart + headerLength;
  check(
    bytes.length >= dataOffset,
    `${file} is truncated: its .npy header declares ${headerLength} bytes, but ${bytes.length - headerStart} follow the preamble`,
  );
  const header = parseHeader(bytes.subarray(headerStart, dataOffset), version, dataOffset, file);
  checkNotScalar(header, file);
  checkDataSize(header, bytes.length - dataOffset, file);
  // A copy into a fresh buffer: aligned for the typed array, and free of the file's (or a Buffer pool's) memory.
  return decodeData(new Uint8Array(bytes.subarray(dataOffset)).buffer, header);
}

/** Reads `length` bytes at `position`, in chunks (one read() stops at 2 GiB). */
async function readFully(handle: FileHandle, into: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, Math.min(into.length - done, 1 << 30), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

async function openNpy(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DistillError(`npy file ${file} does not exist; check the path`);
    if (code === 'EISDIR') throw new DistillError(`npy file ${file} is a directory; readNpy expects a .npy file`);
    throw new DistillError(`cannot read npy file ${file}: ${messageOf(error)}`);
  }
}

/**
 * Reads a .npy file (see parseNpy). The data is read straight into its own buffer rather than through a
 * whole-file Buffer, so a large array needs its size in memory once, not twice.
 */
export async function readNpy(file: string): Promise<NpyArray> {
  const handle = await openNpy(file);
  try {
    const stats = await handle.stat();
    check(!stats.isDirectory(), `npy file ${file} is a directory; readNpy expects a .npy file`);
    const size = stats.size;
    const prefix = new Uint8Array(Math.min(PREAMBLE_MAX, size));
    await readFully(handle, prefix, 0);
    const { version, headerStart, headerLength } = parsePreamble(prefix, file);
    const dataOffset = headerStart + headerLength;
    check(
      size >= dataOffset,
      `${file} is truncated: its .npy header declares ${headerLength} bytes, but ${size - headerStart} follow the preamble`,
    );
    const headerBytes = new Uint8Array(headerLength);
    await readFully(handle, headerBytes, headerStart);
    const header = parseHeader(headerBytes, version, dataOffset, file);
    checkNotScalar(header, file);
    checkDataSize(header, size - dataOffset, file);
    const data = new Uint8Array(header.dataBytes);
    const read = await readFully(handle, data, dataOffset);
    check(
      read === header.dataBytes,
      `${file} is truncated: expected ${header.dataBytes} bytes of data, read ${read}; did the file change while it was read?`,
    );
    return decodeData(data.buffer, header);
  } catch (error) {
    if (error instanceof DistillError) throw error;
    throw new DistillError(`cannot read npy file ${file}: ${messageOf(error)}`);
  } finally {
    await handle.close();
  }
}

// --- datasets and matrices ------------------------------------------------------------------------------

const isFloat = (dtype: NpyDtype): boolean => dtype === 'float16' || dtype === 'float32' || dtype === 'float64';

/** The float values as a Float32Array (float64 narrowed), checked finite. */
function finiteFloat32(array: NpyArray, file: string): Float32Array {
  const values = array.data instanceof Float32Array ? array.data : Float32Array.from(array.data as Float64Array);
  const rowSize = product(array.shape.slice(1));
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      const original = Number((array.data as Float32Array | Float64Array)[i]);
      // A finite float64 that overflows float32 would otherwise show up as a puzzling Infinity.
      const why = Number.isFinite(original) ? `${original}, beyond the float32 range` : `${original}`;
      const row = Math.floor(i / rowSize);
      throw new DistillError(`${file} holds a non-finite value (${why}) in row ${row}; every value must be a finite number`);
    }
  }
  return values;
}

/** Features as the Dataset holds them: uint8 pixels as they are, floats as float32. */
function features(array: NpyArray, file: string): Float32Array | Uint8Array {
  const { dtype, shape } = array;
  check(
    shape.length >= 2,
    `${file} holds features of shape ${formatShape(shape)}; features need shape (rows, ...features), ` +
      'e.g. x.reshape(-1, 1) for one feature per row',
  );
  check(
    shape.every((d) => d > 0),
    `${file} holds features of shape ${formatShape(shape)}; a dimension of 0 leaves no data to load`,
  );
  if (dtype === 'uint8') return array.data as Uint8Array;
  // Other integer types are refused rather than cast: int64 pixels 0..255 (np.array of Python ints)
  // would silently skip the 1/255 scaling that uint8 pixels get.
  check(
    isFloat(dtype),
    `${file} holds ${dtype} features; loadNpy reads uint8 pixels (scaled by 1/255) or float32/float64 features (used as given): ` +
      'save them with x.astype(np.uint8) for 0..255 pixels or x.astype(np.float32)',
  );
  return finiteFloat32(array, file);
}

/** Labels as class indices, -1 for unlabeled; every other value out of int32 or negative is an error. */
function labels(array: NpyArray, file: string): Int32Array {
  const { dtype, shape, data } = array;
  check(
    shape.length === 1 || (shape.length === 2 && shape[1] === 1),
    `${file} holds labels of shape ${formatShape(shape)}; labels need shape (rows,) or (rows, 1): one class index per row`,
  );
  check(
    !isFloat(dtype),
    `${file} holds ${dtype} labels; labels must be integer class indices (-1 for unlabeled): save them with y.astype(np.int64)`,
  );
  const y = new Int32Array(shape[0]);
  for (let i = 0; i < y.length; i++) {
    const value = data[i];
    const ok = typeof value === 'bigint' ? value >= -1n && value < 2n ** 31n : value >= -1 && value < 2 ** 31;
    check(ok, () => `${file}: label ${value} at row ${i} is not a class index; labels must be 0, 1, 2, ... or -1 for an unlabeled row`);
    y[i] = Number(value);
  }
  return y;
}

/**
 * Loads a dataset from two .npy files as np.save writes them: features `xFile` of shape (rows, ...) and
 * labels `yFile` of shape (rows,) or (rows, 1). uint8 features stay raw pixels (the run scales them by
 * 1/255, as for IDX); float32 and float64 features are used as given (as float32). Labels may be any
 * integer dtype; -1 marks an unlabeled row.
 */
export async function loadNpy(xFile: string, yFile: string, options: NpyLoadOptions = {}): Promise<Dataset> {
  const [xArray, yArray] = await Promise.all([readNpy(xFile), readNpy(yFile)]);
  const x = features(xArray, xFile);
  const y = labels(yArray, yFile);
  const rows = xArray.shape[0];
  check(
    y.length === rows,
    `${xFile} holds ${rows} rows but ${yFile} holds ${y.length} labels; features and labels must have one row each per example`,
  );
  let maxLabel = -1;
  for (let i = 0; i < y.length; i++) if (y[i] > maxLabel) maxLabel = y[i];
  const numClasses = options.numClasses ?? maxLabel + 1;
  if (options.numClasses === undefined) {
    check(maxLabel >= 0, `${yFile} has no labelled rows (every label is -1), so the number of classes is unknown; set numClasses`, [
      'numClasses',
    ]);
    check(
      numClasses >= 2,
      `${yFile}: every label is 0, but a classifier needs at least 2 classes; set numClasses if this split lacks some classes`,
      ['numClasses'],
    );
  } else {
    check(Number.isInteger(numClasses) && numClasses >= 2, `numClasses must be an integer >= 2, got ${numClasses}`, ['numClasses']);
    check(
      maxLabel < numClasses,
      () =>
        `${yFile}: label ${maxLabel} at row ${y.indexOf(maxLabel)} is outside [0, ${numClasses}) for numClasses ${numClasses}; ` +
        'raise numClasses or fix the labels',
      ['numClasses'],
    );
  }
  const dataset: Dataset = { x, y, shape: [...xArray.shape], numClasses };
  validateDataset(dataset, xFile);
  return dataset;
}

/**
 * Reads a 2-D float matrix from a .npy file (float16, float32 or float64, returned as float32), e.g. teacher
 * logits computed in Python, one row per example. `options` pins the expected rows and columns.
 */
export async function readNpyFloat32Matrix(file: string, options: NpyMatrixOptions = {}): Promise<NpyMatrix> {
  const array = await readNpy(file);
  const { dtype, shape } = array;
  check(
    shape.length === 2,
    `${file} holds an array of shape ${formatShape(shape)}; expected a 2-D float array of shape (rows, columns)` +
      (shape.length === 1 ? ', e.g. arr.reshape(-1, 1) for one column' : ''),
  );
  const [rows, columns] = shape;
  check(isFloat(dtype), `${file} holds ${dtype} values; expected float32 or float64 (e.g. logits): save it with arr.astype(np.float32)`);
  check(
    options.rows === undefined || rows === options.rows,
    `${file} has shape ${formatShape(shape)}: ${rows} rows, but ${options.rows} are expected (one per example, in the dataset's order)`,
  );
  check(
    options.columns === undefined || columns === options.columns,
    `${file} has shape ${formatShape(shape)}: ${columns} columns, but ${options.columns} are expected (one per class)`,
  );
  return { data: finiteFloat32(array, file), shape: [rows, columns] };
}
