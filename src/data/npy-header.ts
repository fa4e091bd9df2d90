// The .npy header: the preamble (magic, version, header length), then a dict naming dtype, order and shape.
import { endianness } from 'node:os';
import { DistillError, check } from '../errors.js';
import { LiteralParser, type PyValue } from './python-literal.js';

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

/** The dtype a header names, with what reading its items needs. */
export interface DtypeInfo {
  dtype: NpyDtype;
  /** The header's descr, e.g. '<f4', kept for messages. */
  descr: string;
  itemSize: number;
  littleEndian: boolean;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Magic (6) + version (2) + the header length field (2 bytes in version 1.0, 4 in 2.0 and 3.0). */
export const PREAMBLE_MAX = 12;

const KINDS: Record<string, Partial<Record<number, NpyDtype>>> = {
  b: { 1: 'bool' },
  i: { 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' },
  u: { 1: 'uint8', 2: 'uint16', 4: 'uint32', 8: 'uint64' },
  f: { 2: 'float16', 4: 'float32', 8: 'float64' },
};

const SUPPORTED = 'bool, int8/16/32/64, uint8/16/32/64, float16/32/64';

export const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/** A shape as numpy prints it: (10, 6), (10,), (). */
export function formatShape(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

export const product = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

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

/** What a .npy header declares, and where its data starts. */
export interface NpyHeader {
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
export function parsePreamble(prefix: Uint8Array, file: string): { version: number; headerStart: number; headerLength: number } {
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
export function parseHeader(headerBytes: Uint8Array, version: number, dataOffset: number, file: string): NpyHeader {
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

/** Checks the bytes after the header are exactly the data it declares. */
export function checkDataSize(header: NpyHeader, actual: number, file: string): void {
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

/** Refuses a 0-d array: every reader here needs a row dimension. */
export function checkNotScalar(header: NpyHeader, file: string): void {
  check(
    header.shape.length > 0,
    `${file} holds a 0-d array (a single ${header.info.dtype} scalar); ` +
      'save an array with a row dimension, e.g. np.save(path, np.atleast_1d(value))',
  );
}
