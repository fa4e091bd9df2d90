import { check } from '../../errors.js';
import { encodeRowsInto } from './token-batch.js';
import { allocateTokenTable } from './token-table.js';
import type { TextTokenizer } from './tokenizer.js';
import { type TextFields, textRecords } from './text-records.js';

/** A label as a file writes it (a class name or index), with the first line it is on, for messages. */
export interface LabelValue {
  readonly value: string | number;
  readonly line: number;
}

/**
 * A text file's rows tokenised: `[rows, maxLength]` token ids as float32 (the trainer's feature type; ids are
 * exact in float32 up to 2^24) in shared memory, with the padding id moved to 0 as the text students need,
 * and each row's label as an index into the distinct labels the file holds (-1: unlabeled).
 */
export interface TokenisedFile {
  readonly file: string;
  readonly rows: number;
  readonly maxLength: number;
  readonly ids: Float32Array;
  readonly labelCodes: Int32Array;
  readonly labels: readonly LabelValue[];
  /** The first line of a row without a label, if any (a test split needs every label). */
  readonly firstUnlabeledLine: number | undefined;
}

/** Rows encoded at a time: their texts are all the coordinator holds of the file. */
const ROWS_PER_BATCH = 512;

/** Float32 rows and label codes that grow by doubling, so that no per-row array outlives its batch. */
class GrowingRows {
  ids: Float32Array;
  labelCodes: Int32Array;
  rows = 0;

  constructor(private readonly width: number) {
    this.ids = new Float32Array(ROWS_PER_BATCH * width);
    this.labelCodes = new Int32Array(ROWS_PER_BATCH);
  }

  /** Room for `more` rows after the current ones. */
  reserve(more: number): void {
    if (this.rows + more <= this.labelCodes.length) return;
    const capacity = Math.max(this.labelCodes.length * 2, this.rows + more);
    const ids = new Float32Array(capacity * this.width);
    ids.set(this.ids.subarray(0, this.rows * this.width));
    const labelCodes = new Int32Array(capacity);
    labelCodes.set(this.labelCodes.subarray(0, this.rows));
    this.ids = ids;
    this.labelCodes = labelCodes;
  }
}

/**
 * Reads a JSONL, CSV or TSV file as a stream and tokenises its rows on this thread, a batch at a time, into
 * one growing table: memory grows with the table, not the file's text. (Tokenising in worker threads straight
 * into a shared table is not built yet.) Ids are remapped so that padding is 0: a tokenizer whose pad id p
 * is not 0 (RoBERTa: `<pad>` 1, `<s>` 0) has ids p and 0 swapped, which keeps every id below vocabSize.
 */
export async function tokeniseFile(file: string, tokenizer: TextTokenizer, fields: TextFields, maxLength: number): Promise<TokenisedFile> {
  const table = allocateTokenTable(ROWS_PER_BATCH, maxLength, tokenizer.vocabSize, {
    pairs: fields.textPairField !== undefined,
    shared: false,
  });
  const out = new GrowingRows(maxLength);
  const labels: LabelValue[] = [];
  const codeOf = new Map<string | number, number>();
  let firstUnlabeledLine: number | undefined;
  const pad = tokenizer.padId;
  for await (const records of textRecords(file, fields)) {
    for (let start = 0; start < records.length; start += ROWS_PER_BATCH) {
      const batch = records.slice(start, start + ROWS_PER_BATCH);
      const pairs = fields.textPairField === undefined ? undefined : batch.map((record) => record.pair ?? '');
      encodeRowsInto(tokenizer, { texts: batch.map((record) => record.text), pairs }, table);
      out.reserve(batch.length);
      const target = out.ids.subarray(out.rows * maxLength, (out.rows + batch.length) * maxLength);
      for (let cell = 0; cell < target.length; cell++) {
        const id = table.ids[cell];
        target[cell] = id === pad ? 0 : id === 0 ? pad : id;
      }
      for (const record of batch) {
        let code = -1;
        if (record.label === undefined) firstUnlabeledLine ??= record.line;
        else {
          code = codeOf.get(record.label) ?? labels.length;
          if (code === labels.length) {
            codeOf.set(record.label, code);
            labels.push({ value: record.label, line: record.line });
          }
        }
        out.labelCodes[out.rows++] = code;
      }
    }
  }
  check(out.rows > 0, `${file} has no rows; give a file with at least one text`, ['data']);
  return {
    file,
    rows: out.rows,
    maxLength,
    ids: sharedCopy(out.ids.subarray(0, out.rows * maxLength)),
    labelCodes: out.labelCodes.subarray(0, out.rows),
    labels,
    firstUnlabeledLine,
  };
}

/**
 * The values in a SharedArrayBuffer of their own, which the run then shares with its workers as it is
 * (SharedDataset.fromDataset) rather than copying the rows again.
 */
export function sharedCopy(values: Float32Array): Float32Array {
  const copy = new Float32Array(new SharedArrayBuffer(values.byteLength));
  copy.set(values);
  return copy;
}
