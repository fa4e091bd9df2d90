import { Piscina } from 'piscina';
import { DistillError, check, messageOf } from '../../errors.js';
import { encodeRowsInto } from './token-batch.js';
import {
  type TokenIdArray,
  type TokenIdType,
  type TokenTable,
  allocateTokenTable,
  bytesPerTokenId,
  tokenIdArray,
  tokenIdType,
} from './token-table.js';
import { toModelIds } from './model-ids.js';
import type { TokenizeTask, TokenizeWorkerData } from './tokenize-worker.js';
import type { TextTokenizer } from './tokenizer.js';
import type { TokenizerFiles } from './tokenizer-files.js';
import { type TextFields, type TextRecord, textRecords } from './text-records.js';

/** A label as a file writes it (a class name or index), with the first line it is on, for messages. */
export interface LabelValue {
  readonly value: string | number;
  readonly line: number;
}

/**
 * A text file's rows tokenised: `[rows, maxLength]` token ids in the narrowest integer type of the
 * vocabulary (uint8, uint16, int32) in shared memory, with the padding id moved to 0 as the text students
 * need, and each row's label as an index into the distinct labels the file holds (-1: unlabeled).
 */
export interface TokenisedFile {
  readonly file: string;
  readonly rows: number;
  readonly maxLength: number;
  readonly ids: TokenIdArray;
  readonly labelCodes: Int32Array;
  readonly labels: readonly LabelValue[];
  /** The first line of a row without a label, if any (a test split needs every label). */
  readonly firstUnlabeledLine: number | undefined;
  /** Rows whose text is empty: they are kept (special tokens alone), and counted for the report. */
  readonly emptyTexts: number;
}

/** Rows encoded at a time (one task of a tokenising thread): their texts are all that is held of the file. */
const ROWS_PER_BATCH = 512;

/** Token-id rows and label codes that grow by doubling, so that no per-row array outlives its batch. */
class GrowingRows {
  ids: TokenIdArray;
  labelCodes: Int32Array;
  rows = 0;

  constructor(
    private readonly width: number,
    private readonly type: TokenIdType,
  ) {
    this.ids = tokenIdArray(type, new ArrayBuffer(0));
    this.labelCodes = new Int32Array(0);
  }

  /** Room for `more` rows after the current ones. */
  reserve(more: number): void {
    if (this.rows + more <= this.labelCodes.length) return;
    const capacity = Math.max(this.labelCodes.length * 2, this.rows + more, ROWS_PER_BATCH);
    const ids = newIds(this.type, capacity * this.width);
    ids.set(this.ids.subarray(0, this.rows * this.width));
    const labelCodes = new Int32Array(capacity);
    labelCodes.set(this.labelCodes.subarray(0, this.rows));
    this.ids = ids;
    this.labelCodes = labelCodes;
  }
}

/** How a file's rows are read: the tokenizer (and its files, for the threads), the fields, the row width, the threads. */
export interface TokeniseSettings {
  readonly tokenizer: TextTokenizer;
  readonly files: TokenizerFiles;
  readonly fields: TextFields;
  readonly maxLength: number;
  /** Tokenising threads; 1 tokenises on this thread. */
  readonly workers: number;
}

/**
 * Tokenises each file in turn (see tokeniseFileWith) through one set of tokenising threads, so a run's
 * train and test files start the threads, and compile the tokenizer in each, once.
 */
export async function tokeniseFiles(files: string[], settings: TokeniseSettings): Promise<TokenisedFile[]> {
  const encoder = batchEncoder(settings);
  try {
    const tokenised: TokenisedFile[] = [];
    for (const file of files) tokenised.push(await tokeniseFileWith(file, settings, encoder));
    return tokenised;
  } finally {
    await encoder.close();
  }
}

/**
 * Reads a JSONL, CSV or TSV file as a stream and tokenises its rows a batch at a time, on `workers` threads
 * (each batch straight into a token table in shared memory) or on this one, then appends each batch, in file
 * order, to one growing table of the vocabulary's integer type: memory grows with the table, not the file's text. Ids are remapped so
 * that padding is 0: a tokenizer whose pad id p is not 0 (RoBERTa: `<pad>` 1, `<s>` 0) has ids p and 0
 * swapped, which keeps every id below vocabSize.
 */
async function tokeniseFileWith(file: string, settings: TokeniseSettings, encoder: BatchEncoder): Promise<TokenisedFile> {
  const { tokenizer, fields, maxLength } = settings;
  const out = new GrowingRows(maxLength, tokenIdType(tokenizer.vocabSize));
  const labels: LabelValue[] = [];
  const codeOf = new Map<string | number, number>();
  let firstUnlabeledLine: number | undefined;
  let emptyTexts = 0;
  const append = (table: TokenTable, batch: TextRecord[]) => {
    out.reserve(batch.length);
    const target = out.ids.subarray(out.rows * maxLength, (out.rows + batch.length) * maxLength);
    toModelIds(table.ids, tokenizer.padId, target);
    for (const { text, label, line } of batch) {
      if (text === '') emptyTexts++;
      let code = -1;
      if (label === undefined) firstUnlabeledLine ??= line;
      else if ((code = codeOf.get(label) ?? labels.length) === labels.length) {
        codeOf.set(label, code);
        labels.push({ value: label, line });
      }
      out.labelCodes[out.rows++] = code;
    }
  };
  // Batches on their way, oldest first: a few per thread keep every thread busy while the file is read.
  const inFlight: { table: Promise<TokenTable>; batch: TextRecord[] }[] = [];
  const settleOldest = async () => {
    const { table, batch } = inFlight.shift()!;
    append(await table, batch);
  };
  for await (const records of textRecords(file, fields)) {
    for (let start = 0; start < records.length; start += ROWS_PER_BATCH) {
      const batch = records.slice(start, start + ROWS_PER_BATCH);
      const table = encoder.encode(batch);
      table.catch(() => {}); // awaited in turn; a failure meanwhile must not go unhandled
      inFlight.push({ table, batch });
      while (inFlight.length > 2 * settings.workers) await settleOldest();
    }
  }
  while (inFlight.length > 0) await settleOldest();
  check(out.rows > 0, `${file} has no rows; give a file with at least one text`, ['data']);
  return {
    file,
    rows: out.rows,
    maxLength,
    ids: sharedCopy(out.ids.subarray(0, out.rows * maxLength)),
    labelCodes: out.labelCodes.subarray(0, out.rows),
    labels,
    firstUnlabeledLine,
    emptyTexts,
  };
}

const WORKER_URL = new URL('./tokenize-worker.js', import.meta.url);

/**
 * Encodes batches of records into token tables of their own: on this thread alone (one worker), or on
 * `workers - 1` pool threads and this one. This thread takes a batch whenever the pool has two a thread
 * queued, so it tokenises, with its tokenizer already compiled, rather than wait, and one thread fewer is
 * started per file.
 */
/** Encodes a batch of records into a token table of its own; close() stops its threads. */
interface BatchEncoder {
  encode(batch: TextRecord[]): Promise<TokenTable>;
  close(): Promise<void>;
}

function batchEncoder({ tokenizer, files, fields, maxLength, workers }: TokeniseSettings): BatchEncoder {
  const pairs = fields.textPairField !== undefined;
  const tableFor = (rows: number, shared: boolean) => allocateTokenTable(rows, maxLength, tokenizer.vocabSize, { pairs, shared });
  const rowsOf = (batch: TextRecord[]) => ({
    texts: batch.map((record) => record.text),
    pairs: pairs ? batch.map((record) => record.pair ?? '') : undefined,
  });
  const here = (batch: TextRecord[]) => {
    const table = tableFor(batch.length, false);
    encodeRowsInto(tokenizer, rowsOf(batch), table);
    return table;
  };
  if (workers <= 1) return { encode: async (batch: TextRecord[]) => here(batch), close: async () => {} };
  const threads = workers - 1;
  const workerData: TokenizeWorkerData = { files, maxLength };
  const pool = new Piscina({ filename: WORKER_URL.href, minThreads: threads, maxThreads: threads, workerData });
  let queued = 0;
  return {
    encode: async (batch: TextRecord[]) => {
      if (queued >= 2 * threads) return here(batch);
      const table = tableFor(batch.length, true);
      const task: TokenizeTask = { ...rowsOf(batch), table };
      queued++;
      try {
        await pool.run(task);
      } catch (error) {
        throw new DistillError(`a tokenising thread failed: ${messageOf(error)}`);
      } finally {
        queued--;
      }
      return table;
    },
    close: () => pool.destroy(),
  };
}

/** `length` zeroed ids of this type in ordinary memory, or in a SharedArrayBuffer of their own when `shared`. */
export function newIds(type: TokenIdType, length: number, shared = false): TokenIdArray {
  const bytes = length * bytesPerTokenId(type);
  return tokenIdArray(type, shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
}

/**
 * The ids in a SharedArrayBuffer of their own, which the run then shares with its workers as it is
 * (SharedDataset.fromDataset) rather than copying the rows again.
 */
export function sharedCopy(values: TokenIdArray): TokenIdArray {
  const copy = newIds(idTypeOf(values), values.length, true);
  copy.set(values);
  return copy;
}

/** The type of an array of ids. */
export function idTypeOf(ids: TokenIdArray): TokenIdType {
  return ids instanceof Uint8Array ? 'uint8' : ids instanceof Uint16Array ? 'uint16' : 'int32';
}
