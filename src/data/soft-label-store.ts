import { mkdir } from 'node:fs/promises';
import { readChecksummedFile, writeChecksummedFile } from '../checksummed-file.js';
import { dirname } from 'node:path';
import { DistillError, check, messageOf } from '../errors.js';
import type { LogitTable } from './logit-table.js';

/**
 * How soft labels are stored:
 * - `float32`: every logit, exactly (4 bytes per class per row);
 * - `top-k`: for each row, the teacher's k most likely classes at temperature T, as float16 probabilities
 *   with uint16 (or, past 65,536 classes, int32) class indices. Decoding spreads the remaining probability
 *   mass evenly over the other classes and turns the result back into logits (T * log p), so that
 *   softmax(z / T), which is all the distillation term uses, gives back exactly those probabilities.
 *   The probabilities depend on T, so a top-k store is only valid for its temperature (part of its key).
 */
export type SoftLabelEncoding = { kind: 'float32' } | { kind: 'top-k'; k: number; temperature: number };

/** The encoding the softLabelTopK and temperature options ask for: every logit (null k), or the top k at the temperature. */
export function softLabelEncoding(options: { softLabelTopK: number | null; temperature: number }): SoftLabelEncoding {
  return options.softLabelTopK === null
    ? { kind: 'float32' }
    : { kind: 'top-k', k: options.softLabelTopK, temperature: options.temperature };
}

/** What a store file's header records; `key` says which teacher, data and preprocessing produced it. */
interface StoreHeader {
  version: number;
  key: string;
  rows: number;
  classes: number;
  encoding: SoftLabelEncoding;
  bytesPerRow: number;
  /** Seconds the teacher took to label the rows (reported again when the file is reused). */
  labelSeconds: number;
}

const FORMAT = { magic: 'TFDSOFT1', kind: 'soft-label file' };
const VERSION = 1;
/** Rows encoded or decoded at a time: the only buffer the store needs besides the shared table. */
export const CHUNK_ROWS = 4096;
/** Probabilities below this are clamped when decoding, so no logit becomes -Infinity. */
const MIN_PROBABILITY = 1e-8;

export function bytesPerRow(encoding: SoftLabelEncoding, classes: number): number {
  if (encoding.kind === 'float32') return classes * 4;
  return encoding.k * (2 + indexBytes(classes));
}

const indexBytes = (classes: number) => (classes <= 65536 ? 2 : 4);

/** Checks a top-k setting against the class count, with a one-line error naming the option. */
export function checkEncoding(encoding: SoftLabelEncoding, classes: number): void {
  if (encoding.kind === 'top-k') {
    check(
      Number.isInteger(encoding.k) && encoding.k >= 1 && encoding.k < classes,
      `softLabelTopK must be an integer in [1, ${classes - 1}] for ${classes} classes, got ${encoding.k}`,
      ['softLabelTopK'],
    );
  }
}

/**
 * Encodes rows [first, first + n) of `values` (rows x classes logits) into `out`. Top-k keeps, per row,
 * the k largest softmax(z / T) probabilities and their classes.
 */
export function encodeRows(
  values: Float32Array,
  classes: number,
  first: number,
  n: number,
  encoding: SoftLabelEncoding,
  out: Buffer,
): void {
  if (encoding.kind === 'float32') {
    Buffer.from(values.buffer, values.byteOffset + first * classes * 4, n * classes * 4).copy(out);
    return;
  }
  const { k, temperature } = encoding;
  const wide = indexBytes(classes) === 4;
  const order = new Int32Array(classes);
  const probabilities = new Float64Array(classes);
  let at = 0;
  for (let r = first; r < first + n; r++) {
    const row = values.subarray(r * classes, (r + 1) * classes);
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c++) max = Math.max(max, row[c] / temperature);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += probabilities[c] = Math.exp(row[c] / temperature - max);
    for (let c = 0; c < classes; c++) order[c] = c;
    // Partial selection sort: k is small.
    for (let i = 0; i < k; i++) {
      let best = i;
      for (let j = i + 1; j < classes; j++) if (probabilities[order[j]] > probabilities[order[best]]) best = j;
      [order[i], order[best]] = [order[best], order[i]];
      out.writeUInt16LE(float16Bits(probabilities[order[i]] / sum), at);
      at += 2;
    }
    for (let i = 0; i < k; i++) {
      if (wide) out.writeInt32LE(order[i], at);
      else out.writeUInt16LE(order[i], at);
      at += wide ? 4 : 2;
    }
  }
}

/** Decodes `n` rows from `bytes` into `values` starting at row `first` (the inverse of encodeRows). */
function decodeRows(bytes: Buffer, classes: number, first: number, n: number, encoding: SoftLabelEncoding, values: Float32Array): void {
  if (encoding.kind === 'float32') {
    values.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * classes * 4)), first * classes);
    return;
  }
  const { k, temperature } = encoding;
  const wide = indexBytes(classes) === 4;
  const probabilities = new Float64Array(k);
  let at = 0;
  for (let r = first; r < first + n; r++) {
    const row = values.subarray(r * classes, (r + 1) * classes);
    let kept = 0;
    for (let i = 0; i < k; i++) {
      probabilities[i] = float16Value(bytes.readUInt16LE(at));
      kept += probabilities[i];
      at += 2;
    }
    const rest = Math.max(MIN_PROBABILITY, (1 - kept) / (classes - k));
    row.fill(temperature * Math.log(rest));
    for (let i = 0; i < k; i++) {
      const index = wide ? bytes.readInt32LE(at) : bytes.readUInt16LE(at);
      at += wide ? 4 : 2;
      if (index < 0 || index >= classes) throw new Error(`class index ${index} outside [0, ${classes})`);
      row[index] = temperature * Math.log(Math.max(MIN_PROBABILITY, probabilities[i]));
    }
  }
}

/** Replaces the table's logits with what the encoding keeps of them (for a top-k run without a file). */
export function applyEncoding(table: LogitTable, encoding: SoftLabelEncoding): void {
  if (encoding.kind === 'float32') return;
  const size = bytesPerRow(encoding, table.classes);
  const chunk = Buffer.alloc(CHUNK_ROWS * size);
  for (let first = 0; first < table.rows; first += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, table.rows - first);
    encodeRows(table.values, table.classes, first, n, encoding, chunk);
    decodeRows(chunk, table.classes, first, n, encoding, table.values);
  }
}

/**
 * Writes the table to `path` in the checksummed format ({@link writeChecksummedFile}), a chunk of rows at a
 * time, atomically: an interrupted write never leaves a file that passes the checks. Returns the file's size.
 */
export async function writeSoftLabels(
  path: string,
  table: LogitTable,
  meta: { key: string; encoding: SoftLabelEncoding; labelSeconds: number },
): Promise<number> {
  const size = bytesPerRow(meta.encoding, table.classes);
  return writeEncodedSoftLabels(path, { ...meta, rows: table.rows, classes: table.classes }, async (write) => {
    const chunk = Buffer.alloc(CHUNK_ROWS * size);
    for (let first = 0; first < table.rows; first += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, table.rows - first);
      encodeRows(table.values, table.classes, first, n, meta.encoding, chunk);
      await write(chunk.subarray(0, n * size));
    }
  });
}

/**
 * Writes a store whose rows `writeBody` hands over already encoded, in row order (merging shards copies
 * their bytes). The header is {@link writeSoftLabels}'s, so the two give the same file for the same rows.
 */
export async function writeEncodedSoftLabels(
  path: string,
  meta: { key: string; rows: number; classes: number; encoding: SoftLabelEncoding; labelSeconds: number },
  writeBody: (write: (part: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<number> {
  const header: StoreHeader = {
    version: VERSION,
    key: meta.key,
    rows: meta.rows,
    classes: meta.classes,
    encoding: meta.encoding,
    bytesPerRow: bytesPerRow(meta.encoding, meta.classes),
    labelSeconds: meta.labelSeconds,
  };
  try {
    await mkdir(dirname(path), { recursive: true });
    return await writeChecksummedFile(path, FORMAT.magic, header, writeBody);
  } catch (error) {
    if (error instanceof DistillError) throw error;
    throw new DistillError(`could not write the soft labels to ${path}: ${messageOf(error)}`);
  }
}

/** What reading a store gave: the decoded rows went into the table, or why the file cannot be used. */
export type SoftLabelRead = { ok: true; labelSeconds: number; fileBytes: number } | { ok: false; reason: string };

/**
 * Reads a store written by {@link writeSoftLabels} into `table`, a chunk at a time, if it was made with
 * `key` and `encoding` for the table's shape. Anything else (absent, another key or encoding, damaged)
 * is reported as a reason, and the table must then be computed afresh.
 */
export async function readSoftLabels(path: string, table: LogitTable, key: string, encoding: SoftLabelEncoding): Promise<SoftLabelRead> {
  const read = await readChecksummedFile<StoreHeader, SoftLabelRead>(path, FORMAT, async (file) => {
    const { header } = file;
    const refuse = (reason: string): SoftLabelRead => ({ ok: false, reason });
    if (header.version !== VERSION) return refuse(`format version ${header.version}`);
    if (header.key !== key) return refuse('made from another teacher, data or preprocessing');
    if (JSON.stringify(header.encoding) !== JSON.stringify(encoding)) {
      return refuse(`encoded as ${describeEncoding(header.encoding)}, this run needs ${describeEncoding(encoding)}`);
    }
    if (header.rows !== table.rows || header.classes !== table.classes) return refuse('another table shape');
    const size = bytesPerRow(encoding, table.classes);
    if (file.bodyBytes !== table.rows * size) {
      return refuse(`${file.fileBytes} bytes, the header implies ${file.fileBytes - file.bodyBytes + table.rows * size} (truncated?)`);
    }
    let damage: string | undefined;
    try {
      damage = await file.readBody(CHUNK_ROWS * size, (part, offset) =>
        decodeRows(part, table.classes, offset / size, part.byteLength / size, encoding, table.values),
      );
    } catch (error) {
      return refuse(messageOf(error));
    }
    if (damage) return refuse(`${damage} (the file is damaged)`);
    return { ok: true, labelSeconds: header.labelSeconds, fileBytes: file.fileBytes };
  });
  return 'reason' in read && !('ok' in read) ? { ok: false, reason: read.reason } : read;
}

export function describeEncoding(encoding: SoftLabelEncoding): string {
  return encoding.kind === 'float32' ? 'full float32 logits' : `top-${encoding.k} at temperature ${encoding.temperature}`;
}

// IEEE 754 half precision, round to nearest: probabilities lie in [0, 1], so no infinities or NaN arise.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  const mantissa = x & 0x7fffff;
  if (exponent <= 0) {
    if (exponent < -10) return 0; // below the smallest subnormal
    const m = (mantissa | 0x800000) >> (1 - exponent);
    return (m + 0x1000) >> 13; // subnormal, rounded
  }
  if (exponent >= 31) return 0x7bff; // never for probabilities; clamp to the largest finite value
  return ((exponent << 10) | (mantissa >> 13)) + ((mantissa >> 12) & 1);
}

function float16Value(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return mantissa * 2 ** -24;
  return (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
