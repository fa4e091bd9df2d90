import { type FileHandle, open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { DistillError, check, messageOf } from '../errors.js';
import { type Dataset, validateDataset } from './dataset.js';

/** The numpy dtypes readNpy reads, by numpy's name for them. */
export type NpyDtype =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float16'
  | 'float32'
  | 'float64';

/** An NPY array's values, in the typed array that matches its dtype (bool as 0/1 bytes, float16 widened to float32). */
export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/**
 * One array read from a .npy file, always in C (row-major) order and in this machine's byte order. `bool`
 * arrives as a Uint8Array of 0/1, `float16` widened to a Float32Array (JavaScript has no float16 array);
 * every other dtype as the typed array of its name (int64 as a BigInt64Array).
 */
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

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

interface DtypeInfo {
  dtype: NpyDtype;
  /** The header's descr, e.g. '<f4', kept for messages. */
  descr: string;
  itemSize: number;
  littleEndian: boolean;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Magic (6) + version (2) + the header length field (2 bytes in version 1.0, 4 in 2.0 and 3.0). */
const PREAMBLE_MAX = 12;

const KINDS: Record<string, Partial<Record<number, NpyDtype>>> = {
  b: { 1: 'bool' },
  i: { 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' },
  u: { 1: 'uint8', 2: 'uint16', 4: 'uint32', 8: 'uint64' },
  f: { 2: 'float16', 4: 'float32', 8: 'float64' },
};

const SUPPORTED = 'bool, int8/16/32/64, uint8/16/32/64, float16/32/64';

const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/** A shape as numpy prints it: (10, 6), (10,), (). */
function formatShape(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

const product = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

// --- the header: a Python dict literal ------------------------------------------------------------------

type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/**
 * Parses the Python literal numpy writes as the header (repr of a dict). A small parser rather than
 * regular expressions, so key order, spacing, Python 2's 10L longs and structured descrs (lists of tuples)
 * all read correctly, and anything else is reported rather than half-read.
 */
class LiteralParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  parseAll(): PyValue {
    const value = this.value();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('unexpected text after the dict');
    return value;
  }

  private fail(problem: string): never {
    throw new DistillError(
      `${this.file} has a malformed .npy header (${problem} at character ${this.pos}); ` +
        'the file is corrupt or was not written by np.save',
    );
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private value(): PyValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === '{') return this.dict();
    if (c === '(') return this.sequence(')');
    if (c === '[') return this.sequence(']');
    if (c === "'" || c === '"') return this.string();
    // Python 2 headers may spell strings u'...' or b'...'.
    if ((c === 'u' || c === 'b') && (this.text[this.pos + 1] === "'" || this.text[this.pos + 1] === '"')) {
      this.pos++;
      return this.string();
    }
    const word = /^(True|False|None|[+-]?\d+L?)/.exec(this.text.slice(this.pos));
    if (!word) this.fail(c === undefined ? 'unexpected end' : `unexpected '${c}'`);
    this.pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0].replace('L', ''));
  }

  private expect(char: string): void {
    this.skipSpace();
    if (this.text[this.pos] !== char) this.fail(`expected '${char}'`);
    this.pos++;
  }

  /** Whether the next character is `char`; consumes it if so. */
  private accept(char: string): boolean {
    this.skipSpace();
    if (this.text[this.pos] !== char) return false;
    this.pos++;
    return true;
  }

  private dict(): { [key: string]: PyValue } {
    this.expect('{');
    const result: { [key: string]: PyValue } = Object.create(null); // no inherited keys to mistake for header keys
    while (!this.accept('}')) {
      const key = this.value();
      if (typeof key !== 'string') this.fail('a dict key that is not a string');
      this.expect(':');
      result[key] = this.value();
      if (!this.accept(',')) {
        this.expect('}');
        break;
      }
    }
    return result;
  }

  /** A tuple or a list; both become arrays. */
  private sequence(close: string): PyValue[] {
    this.pos++;
    const items: PyValue[] = [];
    while (!this.accept(close)) {
      items.push(this.value());
      if (!this.accept(',')) {
        this.expect(close);
        break;
      }
    }
    return items;
  }

  private string(): string {
    const quote = this.text[this.pos++];
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('an unterminated string');
      const c = this.text[this.pos++];
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos++];
      if (e === 'x' || e === 'u') {
        const digits = this.text.slice(this.pos, this.pos + (e === 'x' ? 2 : 4));
        if (!/^[0-9a-fA-F]+$/.test(digits)) this.fail('a bad escape in a string');
        out += String.fromCharCode(parseInt(digits, 16));
        this.pos += digits.length;
      } else {
        out += { n: '\n', t: '\t', r: '\r', '0': '\0' }[e] ?? e;
      }
    }
  }
}

/** Maps a descr such as '<f4' to its dtype; object, string, structured and other dtypes get their own fix. */
function parseDescr(descr: PyValue, file: string): DtypeInfo {
  if (typeof descr !== 'string') {
    const names = Array.isArray(descr) ? descr.map((field) => (Array.isArray(field) ? String(field[0]) : '?')) : [];
    throw new DistillError(
      `${file} holds a structured array (fields ${names.join(', ')}), which readNpy does not read; ` +
        `save each field as its own array, e.g. np.save(path, arr['${names[0] ?? 'name'}'])`,
    );
  }
  const match = /^([<>|=])([a-zA-Z])(\d*)$/.exec(descr);
  const kind = match?.[2];
  check(
    kind !== 'O',
    `${file} holds a dtype object array (pickled Python objects), which cannot be read outside Python; ` +
      'save it with a numeric dtype instead, e.g. np.save(path, np.asarray(values, dtype=np.float32))',
  );
  const dtype = match ? KINDS[kind as string]?.[Number(match[3])] : undefined;
  if (!match || !dtype) {
    const what = kind === 'U' || kind === 'S' || kind === 'a' ? ' (strings)' : kind === 'c' ? ' (complex numbers)' : '';
    throw new DistillError(
      `${file} has dtype '${descr}'${what}, which readNpy does not read; save it as one of ${SUPPORTED}, e.g. arr.astype(np.float32)`,
    );
  }
  const order = match[1];
  // '=' is the writing machine's order, which numpy never saves; read it as this machine's.
  return { dtype, descr, itemSize: Number(match[3]), littleEndian: order === '>' ? false : order === '=' ? HOST_LITTLE_ENDIAN : true };
}

interface NpyHeader {
  info: DtypeInfo;
  shape: number[];
  fortranOrder: boolean;
  /** Byte offset of the data: preamble + header. */
  dataOffset: number;
  /** Bytes of data the header declares. */
  dataBytes: number;
}

/** Why `prefix` is not a .npy file, with the fix for the likeliest mix-ups. */
function notNpy(prefix: Uint8Array, file: string): DistillError {
  if (prefix[0] === 0x50 && prefix[1] === 0x4b) {
    return new DistillError(
      `${file} is a zip archive (an .npz from np.savez?), not a .npy file; load it with np.load and np.save each array to its own .npy`,
    );
  }
  if (prefix[0] === 0x1f && prefix[1] === 0x8b) {
    return new DistillError(`${file} is gzipped; gunzip it first, readNpy reads plain .npy files`);
  }
  return new DistillError(`${file} is not a .npy file: it does not start with the magic string \\x93NUMPY; write it with np.save`);
}

/** Reads the preamble (magic, version, header length): where the header starts and how long it is. */
function parsePreamble(prefix: Uint8Array, file: string): { version: number; headerStart: number; headerLength: number } {
  if (prefix.length < MAGIC.length || MAGIC.some((byte, i) => prefix[i] !== byte)) throw notNpy(prefix, file);
  check(prefix.length >= 10, `${file} is truncated: ${prefix.length} bytes is too short for a .npy header`);
  const version = prefix[6];
  check(
    version >= 1 && version <= 3,
    `${file} is .npy format version ${version}.${prefix[7]}; readNpy reads versions 1.0, 2.0 and 3.0 (np.save writes 1.0 by default)`,
  );
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (version === 1) return { version, headerStart: 10, headerLength: view.getUint16(8, true) };
  check(prefix.length >= 12, `${file} is truncated: ${prefix.length} bytes is too short for a .npy header`);
  return { version, headerStart: 12, headerLength: view.getUint32(8, true) };
}

/** Parses the header dict (bytes after the preamble) into dtype, shape and order. */
function parseHeader(headerBytes: Uint8Array, version: number, dataOffset: number, file: string): NpyHeader {
  // Versions 1.0 and 2.0 store the header in latin-1, 3.0 in utf-8 (for non-ASCII field names).
  const text = new TextDecoder(version === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  const dict = new LiteralParser(text, file).parseAll();
  check(
    dict !== null && typeof dict === 'object' && !Array.isArray(dict),
    `${file} has a malformed .npy header (not a dict); the file is corrupt or was not written by np.save`,
  );
  const missing = ['descr', 'fortran_order', 'shape'].filter((key) => !Object.hasOwn(dict, key));
  check(
    missing.length === 0,
    `${file} has a malformed .npy header (no ${missing.join(', ')}); the file is corrupt or was not written by np.save`,
  );
  const info = parseDescr(dict.descr, file);
  const shape = dict.shape;
  check(
    Array.isArray(shape) && shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0),
    `${file} has a malformed .npy header (shape ${JSON.stringify(shape)} is not a tuple of sizes); the file is corrupt`,
  );
  check(
    typeof dict.fortran_order === 'boolean',
    `${file} has a malformed .npy header (fortran_order is not True or False); the file is corrupt`,
  );
  const dims = shape as number[];
  return { info, shape: dims, fortranOrder: dict.fortran_order, dataOffset, dataBytes: product(dims) * info.itemSize };
}

function checkDataSize(header: NpyHeader, actual: number, file: string): void {
  const declared = `shape ${formatShape(header.shape)} of ${header.info.itemSize}-byte ${header.info.dtype} = ${header.dataBytes} bytes`;
  check(actual >= header.dataBytes, () => `${file} is truncated: the header declares ${declared} of data, but ${actual} bytes follow`);
  // np.save into one open file several times appends arrays; np.load would silently read the first alone.
  check(
    actual === header.dataBytes,
    () =>
      `${file} has ${actual - header.dataBytes} bytes after its data (${declared}); it may hold several arrays ` +
      'saved into one file: save each array with its own np.save(path, array)',
  );
}

// --- the data ------------------------------------------------------------------------------------------

/** Reverses the bytes of every item in place. */
function swapBytes(bytes: Uint8Array, itemSize: number): void {
  for (let at = 0; at < bytes.length; at += itemSize) {
    for (let i = 0, j = itemSize - 1; i < j; i++, j--) {
      const t = bytes[at + i];
      bytes[at + i] = bytes[at + j];
      bytes[at + j] = t;
    }
  }
}

/**
 * Reorders a column-major (fortran_order) buffer into row-major order. Items are moved as 1, 2 or 4-byte
 * words (8-byte items as two 4-byte words), never through float registers, so NaN payloads survive.
 */
function fortranToC(buffer: ArrayBuffer, shape: number[], itemSize: number): ArrayBuffer {
  const out = new ArrayBuffer(buffer.byteLength);
  const wordSize = Math.min(itemSize, 4);
  const Words = wordSize === 1 ? Uint8Array : wordSize === 2 ? Uint16Array : Uint32Array;
  const src = new Words(buffer);
  const dst = new Words(out);
  const perItem = itemSize / wordSize;
  const rank = shape.length;
  const strides: number[] = [];
  for (let k = 0, s = 1; k < rank; k++) {
    strides.push(s);
    s *= shape[k];
  }
  const index = new Array<number>(rank).fill(0);
  const n = product(shape);
  let from = 0; // Fortran item index of the C-order item i
  for (let i = 0; i < n; i++) {
    for (let w = 0; w < perItem; w++) dst[i * perItem + w] = src[from * perItem + w];
    for (let k = rank - 1; k >= 0; k--) {
      from += strides[k];
      if (++index[k] < shape[k]) break;
      from -= strides[k] * shape[k];
      index[k] = 0;
    }
  }
  return out;
}

/** float16 bits to a number: sign, 5-bit exponent, 10-bit mantissa. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Turns the raw data (its own, aligned buffer) into a C-order, host-order typed array. */
function decodeData(buffer: ArrayBuffer, header: NpyHeader): NpyArray {
  const { info, shape } = header;
  if (info.itemSize > 1 && info.littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(new Uint8Array(buffer), info.itemSize);
  // A fortran array of rank < 2 has the same layout as a C one.
  if (header.fortranOrder && shape.length > 1) buffer = fortranToC(buffer, shape, info.itemSize);
  const data = ((): NpyData => {
    switch (info.dtype) {
      case 'bool':
        // numpy writes 0/1, but any non-zero byte is True.
        return new Uint8Array(buffer).map((b) => (b ? 1 : 0));
      case 'int8':
        return new Int8Array(buffer);
      case 'uint8':
        return new Uint8Array(buffer);
      case 'int16':
        return new Int16Array(buffer);
      case 'uint16':
        return new Uint16Array(buffer);
      case 'int32':
        return new Int32Array(buffer);
      case 'uint32':
        return new Uint32Array(buffer);
      case 'int64':
        return new BigInt64Array(buffer);
      case 'uint64':
        return new BigUint64Array(buffer);
      case 'float16':
        return Float32Array.from(new Uint16Array(buffer), halfToFloat);
      case 'float32':
        return new Float32Array(buffer);
      case 'float64':
        return new Float64Array(buffer);
    }
  })();
  return { dtype: info.dtype, shape, data };
}

function checkNotScalar(header: NpyHeader, file: string): void {
  check(
    header.shape.length > 0,
    `${file} holds a 0-d array (a single ${header.info.dtype} scalar); ` +
      'save an array with a row dimension, e.g. np.save(path, np.atleast_1d(value))',
  );
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
