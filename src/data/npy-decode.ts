// The data section of a .npy file: items in the file's byte order and layout, made host-order, C-order arrays.
import { type NpyDtype, type NpyHeader, HOST_LITTLE_ENDIAN, product } from './npy-header.js';

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
export function decodeData(buffer: ArrayBuffer, header: NpyHeader): NpyArray {
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
