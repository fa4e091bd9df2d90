import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readChecksummedFile, writeChecksummedFile } from '../checksummed-file.js';
import { DistillError, messageOf } from '../errors.js';
import type { LogitTable } from './logit-table.js';
import {
  CHUNK_ROWS,
  type SoftLabelEncoding,
  bytesPerRow,
  describeEncoding,
  encodeRows,
  writeEncodedSoftLabels,
} from './soft-label-store.js';

/**
 * A soft-label shard: rows [start, end) of a store, labelled on their own (one task of a batch scheduler's
 * array job) and merged into the store later. The body holds exactly the bytes those rows take in the
 * store, so a merge copies bodies and the merged store is the store one run would have written.
 */
export interface ShardHeader {
  version: number;
  /** The store's key: which teacher labelled which data (see softLabelKey). */
  key: string;
  /** Its two halves, so that a mismatch can say which differs: the teacher's weights, and the data. */
  teacherKey: string;
  dataKey: string;
  /** Rows and classes of the whole table, not of the shard. */
  rows: number;
  classes: number;
  encoding: SoftLabelEncoding;
  bytesPerRow: number;
  start: number;
  end: number;
  /** Which shard of how many this was labelled as (for messages; the rows are what count). */
  shard: { index: number; count: number };
  labelSeconds: number;
}

const FORMAT = { magic: 'TFDSHRD1', kind: 'soft-label shard' };
const VERSION = 1;

/** Writes rows [meta.start, meta.end) of `table` (a table of every row) as a shard file, atomically. */
export async function writeShard(
  path: string,
  table: LogitTable,
  meta: Pick<ShardHeader, 'key' | 'teacherKey' | 'dataKey' | 'encoding' | 'start' | 'end' | 'shard' | 'labelSeconds'>,
): Promise<number> {
  const size = bytesPerRow(meta.encoding, table.classes);
  const header: ShardHeader = { version: VERSION, ...meta, rows: table.rows, classes: table.classes, bytesPerRow: size };
  try {
    await mkdir(dirname(path), { recursive: true });
    return await writeChecksummedFile(path, FORMAT.magic, header, async (write) => {
      const chunk = Buffer.alloc(CHUNK_ROWS * size);
      for (let first = meta.start; first < meta.end; first += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, meta.end - first);
        encodeRows(table.values, table.classes, first, n, meta.encoding, chunk);
        await write(chunk.subarray(0, n * size));
      }
    });
  } catch (error) {
    throw new DistillError(`could not write the soft-label shard ${path}: ${messageOf(error)}`);
  }
}

/** A shard file that passed every check: its header, and its size on disk. */
export interface CheckedShard {
  path: string;
  header: ShardHeader;
  fileBytes: number;
}

/**
 * Reads and checks a whole shard file (header, length, checksum). With `copy`, hands the body's parts to it
 * in order. Returns why the file cannot be used rather than throwing: a labeller relabels, a merge stops.
 */
export async function readShard(
  path: string,
  copy?: (part: Uint8Array) => Promise<void>,
): Promise<{ ok: true; shard: CheckedShard } | { ok: false; reason: string }> {
  const read = await readChecksummedFile<ShardHeader, { ok: true; shard: CheckedShard } | { ok: false; reason: string }>(
    path,
    FORMAT,
    async (file) => {
      const { header } = file;
      if (header.version !== VERSION) return { ok: false, reason: `format version ${header.version}` };
      const expected = (header.end - header.start) * header.bytesPerRow;
      if (file.bodyBytes !== expected)
        return { ok: false, reason: `${file.bodyBytes} bytes of rows, the header implies ${expected} (truncated?)` };
      const damage = await file.readBody(CHUNK_ROWS * header.bytesPerRow, async (part) => {
        await copy?.(part);
      });
      if (damage) return { ok: false, reason: `${damage} (the file is damaged)` };
      return { ok: true, shard: { path, header, fileBytes: file.fileBytes } };
    },
  );
  return 'ok' in read ? read : { ok: false, reason: read.reason };
}

/** What {@link mergeShards} wrote. */
export interface MergeResult {
  rows: number;
  classes: number;
  key: string;
  encoding: SoftLabelEncoding;
  /** The sum of the shards' labelling times: what the teacher cost, in machine-seconds. */
  labelSeconds: number;
  fileBytes: number;
}

/**
 * Merges shard files into the store at `out`: they must share the key (teacher and data), the encoding and
 * the table's shape, and their row ranges must cover every row exactly once. Gaps and overlaps are errors
 * that name the rows. The store's body is the shards' bodies in row order, so it is byte for byte the body
 * one run writes; its header records the sum of the shards' labelling times.
 */
export async function mergeShards(out: string, paths: string[]): Promise<MergeResult> {
  if (paths.length === 0) throw new DistillError('merge needs at least one shard file');
  const shards: CheckedShard[] = [];
  for (const path of paths) {
    const read = await readShard(path);
    if (!read.ok) throw new DistillError(`${path} cannot be merged: ${read.reason === 'absent' ? 'no such file' : read.reason}`);
    shards.push(read.shard);
  }
  const [first] = shards;
  for (const { path, header } of shards.slice(1)) {
    const other = `${path} and ${first.path}`;
    if (header.key !== first.header.key) {
      const differs = [header.teacherKey !== first.header.teacherKey && 'teachers', header.dataKey !== first.header.dataKey && 'data']
        .filter(Boolean)
        .join(' and ');
      throw new DistillError(
        `${other} come from different ${differs || 'teachers or data'} (keys ${header.key} and ${first.header.key}); ` +
          'label every shard alike',
      );
    }
    if (JSON.stringify(header.encoding) !== JSON.stringify(first.header.encoding)) {
      throw new DistillError(
        `${other} are encoded differently (${describeEncoding(header.encoding)}, ${describeEncoding(first.header.encoding)})`,
      );
    }
    if (header.rows !== first.header.rows || header.classes !== first.header.classes) {
      throw new DistillError(`${other} are shards of different tables (${header.rows} and ${first.header.rows} rows)`);
    }
  }
  const { rows, classes, key, encoding } = first.header;
  const ordered = shards.filter((s) => s.header.end > s.header.start).sort((a, b) => a.header.start - b.header.start);
  const problems = coverageProblems(ordered, rows);
  if (problems.length > 0) throw new DistillError(`the shards do not cover every row exactly once: ${problems.join('; ')}`);
  const labelSeconds = shards.reduce((sum, s) => sum + s.header.labelSeconds, 0);
  const fileBytes = await writeEncodedSoftLabels(out, { key, rows, classes, encoding, labelSeconds }, async (write) => {
    for (const { path } of ordered) {
      // Read again, checksum included: the file could have changed since it was checked.
      const read = await readShard(path, write);
      if (!read.ok) throw new DistillError(`${path} cannot be merged: ${read.reason}`);
    }
  });
  return { rows, classes, key, encoding, labelSeconds, fileBytes };
}

/** 'rows 512-767 are', or 'row 5 is'. */
const span = (start: number, end: number) => (end - start === 1 ? `row ${start} is` : `rows ${start}-${end - 1} are`);

/** Gaps and overlaps of non-empty shards sorted by their first row, in words. */
function coverageProblems(ordered: CheckedShard[], rows: number): string[] {
  const problems: string[] = [];
  let covered = 0;
  let last: CheckedShard | undefined;
  for (const shard of ordered) {
    const { start, end } = shard.header;
    if (start > covered) problems.push(`${span(covered, start)} in no shard`);
    if (start < covered && last) problems.push(`${span(start, Math.min(end, covered))} in both ${last.path} and ${shard.path}`);
    if (end > covered) {
      covered = end;
      last = shard;
    }
  }
  if (covered < rows) problems.push(`${span(covered, rows)} in no shard`);
  return problems;
}
