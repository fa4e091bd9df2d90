/**
 * The loops of a text student's fused embedding front (models/token-front.ts) while it trains: the forward
 * pass reads the embedding table straight from a Float32Array (the shared weights) and the backward pass adds
 * into the table's gradient only the rows the batch's tokens name. They do what the stock layers do, in the
 * same order: each product the stock backward pass forms (a token's weight times the output's gradient) is
 * rounded to float32 as it is, and the rows are added by token in row order, as tfjs's UnsortedSegmentSum
 * adds them. Ids are float32 token ids, 0 for padding.
 */
import { check } from '../errors.js';

/** Where the table sits: `values[offset + id * width + j]` is entry j of token id's row. */
export interface TableView {
  values: Float32Array;
  offset: number;
  vocabSize: number;
  width: number;
}

/** Token ids, `rows` rows of `maxLength`. */
export interface TokenRows {
  ids: Float32Array;
  rows: number;
  maxLength: number;
}

/** Throws unless every id is a whole number in [0, vocabSize), the ids a table lookup accepts. */
function checkIds({ ids, rows, maxLength }: TokenRows, vocabSize: number): void {
  for (let i = 0, end = rows * maxLength; i < end; i++) {
    const id = ids[i];
    check(
      Number.isInteger(id) && id >= 0 && id < vocabSize,
      () =>
        `token id ${id} in row ${Math.floor(i / maxLength)} is not in [0, ${vocabSize}); the rows' tokenizer does not match the student's vocabulary`,
    );
  }
}

/**
 * How many of row r's tokens are real; a row of padding alone counts every position, as the stock softmax
 * over equal scores weighs them all.
 */
function countedTokens(ids: Float32Array, base: number, maxLength: number): { count: number; everyPosition: boolean } {
  let count = 0;
  for (let t = 0; t < maxLength; t++) if (ids[base + t] !== 0) count++;
  return count === 0 ? { count: maxLength, everyPosition: true } : { count, everyPosition: false };
}

/** out [rows, width]: each row's mean embedding over its real tokens (token-front's `mean`). */
export function meanOfRealTokens(table: TableView, tokens: TokenRows, out: Float32Array): void {
  checkIds(tokens, table.vocabSize);
  const { values, offset, width } = table;
  const { ids, rows, maxLength } = tokens;
  for (let r = 0; r < rows; r++) {
    const base = r * maxLength;
    const { count, everyPosition } = countedTokens(ids, base, maxLength);
    const o = r * width;
    out.fill(0, o, o + width);
    for (let t = 0; t < maxLength; t++) {
      const id = ids[base + t];
      if (id === 0 && !everyPosition) continue;
      const from = offset + id * width;
      for (let j = 0; j < width; j++) out[o + j] += values[from + j];
    }
    const weight = Math.fround(1 / count);
    for (let j = 0; j < width; j++) out[o + j] *= weight;
  }
}

/**
 * grad[offset + id * width + j] += the gradient each token gets from dMean [rows, width] (its weight 1/count
 * times its row's gradient). Adds into `grad`: the caller zeroes the table's range first.
 */
export function addMeanGradient(dMean: Float32Array, tokens: TokenRows, grad: Float32Array, offset: number, width: number): void {
  const { ids, rows, maxLength } = tokens;
  const share = new Float32Array(width);
  for (let r = 0; r < rows; r++) {
    const base = r * maxLength;
    const { count, everyPosition } = countedTokens(ids, base, maxLength);
    const weight = Math.fround(1 / count);
    for (let j = 0; j < width; j++) share[j] = weight * dMean[r * width + j];
    for (let t = 0; t < maxLength; t++) {
      const id = ids[base + t];
      if (id === 0 && !everyPosition) continue;
      const to = offset + id * width;
      for (let j = 0; j < width; j++) grad[to + j] += share[j];
    }
  }
}

/** out [rows, maxLength, width]: each real token's embedding, zeros at padding (token-front's `rows`). */
export function realTokenRows(table: TableView, tokens: TokenRows, out: Float32Array): void {
  checkIds(tokens, table.vocabSize);
  const { values, offset, width } = table;
  const { ids, rows, maxLength } = tokens;
  for (let p = 0, end = rows * maxLength; p < end; p++) {
    const id = ids[p];
    if (id === 0) out.fill(0, p * width, (p + 1) * width);
    else out.set(values.subarray(offset + id * width, offset + (id + 1) * width), p * width);
  }
}

/** grad[offset + id * width + j] += dRows[p, j] for every real token p; adds, as {@link addMeanGradient}. */
export function addRowsGradient(dRows: Float32Array, tokens: TokenRows, grad: Float32Array, offset: number, width: number): void {
  const { ids, rows, maxLength } = tokens;
  for (let p = 0, end = rows * maxLength; p < end; p++) {
    const id = ids[p];
    if (id === 0) continue;
    const to = offset + id * width;
    const from = p * width;
    for (let j = 0; j < width; j++) grad[to + j] += dRows[from + j];
  }
}
