import { rowLength, tokenizerId, writeSegmentIds } from '../data/text/token-rows.js';
import { DistillError } from '../errors.js';
import type { OnnxTextFeed, TokenInputType } from '../models/onnx-text-teacher.js';

/** One run of a text model: which rows of the batch it holds, in order, and the width they are padded to. */
export interface TextBucket {
  rows: Int32Array;
  width: number;
}

/**
 * The runs of a batch of token-id rows: with `bucketRows`, the rows sorted by length (ties in row order)
 * and cut into groups of that many, each padded to its longest row; without, the whole batch at the row
 * width. A row's group depends only on the batch, so a row gets the same bits in every run that batches
 * rows the same way.
 */
export function textBuckets(x: ArrayLike<number>, rows: number, feed: OnnxTextFeed): { buckets: TextBucket[]; lengths: Int32Array } {
  const width = feed.rows.maxLength;
  const lengths = new Int32Array(rows);
  for (let row = 0; row < rows; row++) lengths[row] = rowLength(x, row * width, width);
  const order = Int32Array.from({ length: rows }, (_, row) => row);
  if (feed.bucketRows === null) return { buckets: [{ rows: order, width }], lengths };
  order.sort((a, b) => lengths[a] - lengths[b] || a - b);
  const buckets: TextBucket[] = [];
  for (let start = 0; start < rows; start += feed.bucketRows) {
    const members = order.subarray(start, Math.min(start + feed.bucketRows, rows));
    // A model cannot take a sequence of no tokens: an empty row (no special tokens) still gets one padding column.
    buckets.push({ rows: members, width: Math.max(1, lengths[members[members.length - 1]]) });
  }
  return { buckets, lengths };
}

/** A [rows, width] integer array of the input's type. */
function integers(type: TokenInputType, length: number): BigInt64Array | Int32Array {
  return type === 'int64' ? new BigInt64Array(length) : new Int32Array(length);
}

/** The inputs of one bucket, by input name: the tokenizer's ids, the attention mask and the segment ids. */
export function bucketInputs(
  x: ArrayLike<number>,
  bucket: TextBucket,
  lengths: Int32Array,
  feed: OnnxTextFeed,
): Record<string, { type: TokenInputType; data: BigInt64Array | Int32Array; dims: number[] }> {
  const { rows: info } = feed;
  const stride = info.maxLength;
  const { width } = bucket;
  const cells = bucket.rows.length * width;
  // The segment ids and mask are built as plain numbers, then copied into the input's type.
  const ids = new Int32Array(cells).fill(info.padId);
  const mask = new Int32Array(cells);
  const segments = new Int32Array(cells).fill(info.padTypeId);
  bucket.rows.forEach((row, index) => {
    const length = lengths[row];
    const at = index * width;
    for (let k = 0; k < length; k++) ids[at + k] = tokenizerId(x[row * stride + k], info.padId);
    mask.fill(1, at, at + length);
    if (feed.segments && !writeSegmentIds(x, row * stride, length, info, segments, at)) {
      throw new DistillError(
        `a row of ${length} tokens does not follow the special-token layout of ${info.tokenizer}, so its token_type_ids cannot be ` +
          'told; tokenise the data with that tokenizer',
        ['tokenizer'],
      );
    }
  });
  const inputs: ReturnType<typeof bucketInputs> = {};
  const add = (input: OnnxTextFeed['ids'] | undefined, values: Int32Array) => {
    if (!input) return;
    const data = integers(input.type, cells);
    if (data instanceof BigInt64Array) for (let i = 0; i < cells; i++) data[i] = BigInt(values[i]);
    else data.set(values);
    inputs[input.name] = { type: input.type, data, dims: [bucket.rows.length, width] };
  };
  add(feed.ids, ids);
  add(feed.mask, mask);
  add(feed.segments, segments);
  return inputs;
}
