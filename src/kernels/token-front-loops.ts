/**
 * The loops of a text student's fused embedding front (models/token-front.ts) while it trains: the forward
 * pass reads the embedding table straight from a Float32Array (the shared weights) and the backward pass adds
 * into the table's gradient only the rows the batch's tokens name. They do what the stock layers do, in the
 * same order: each product the stock backward pass forms (a token's weight times the output's gradient) is
 * rounded to float32 as it is, and the rows are added by token in row order, as tfjs's UnsortedSegmentSum
 * adds them. Ids are float32 token ids, 0 for padding. Two implementations with the same contract and the
 * same bits: these JavaScript loops, and the native addon's (native/token-front.c), which a thread running
 * the openblas kernels uses.
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

/** Throws, naming it, when id `index` is not a whole number in [0, vocabSize); index -1 passes. */
export function checkBadId(index: number, { ids, maxLength }: TokenRows, vocabSize: number): void {
  check(
    index < 0,
    () =>
      `token id ${ids[index]} in row ${Math.floor(index / maxLength)} is not in [0, ${vocabSize}); ` +
      "the rows' tokenizer does not match the student's vocabulary",
  );
}

/** -1 when every id is a whole number in [0, vocabSize), the ids a table lookup accepts; else the first other's index. */
export function firstBadId({ ids, rows, maxLength }: TokenRows, vocabSize: number): number {
  for (let i = 0, end = rows * maxLength; i < end; i++) {
    const id = ids[i];
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) return i;
  }
  return -1;
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
function meanOfRealTokens(table: TableView, tokens: TokenRows, out: Float32Array): void {
  checkBadId(firstBadId(tokens, table.vocabSize), tokens, table.vocabSize);
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
 * The table's gradient `grad` (laid out as the table) += the gradient each token gets from dMean [rows, width]
 * (its weight 1/count times its row's gradient). Adds: the caller zeroes the table's range first.
 */
function addMeanGradient(grad: TableView, tokens: TokenRows, dMean: Float32Array): void {
  const { values, offset, width } = grad;
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
      for (let j = 0; j < width; j++) values[to + j] += share[j];
    }
  }
}

/** out [rows, maxLength, width]: each real token's embedding, zeros at padding (token-front's `rows`). */
function realTokenRows(table: TableView, tokens: TokenRows, out: Float32Array): void {
  checkBadId(firstBadId(tokens, table.vocabSize), tokens, table.vocabSize);
  const { values, offset, width } = table;
  const { ids, rows, maxLength } = tokens;
  for (let p = 0, end = rows * maxLength; p < end; p++) {
    const id = ids[p];
    if (id === 0) out.fill(0, p * width, (p + 1) * width);
    else out.set(values.subarray(offset + id * width, offset + (id + 1) * width), p * width);
  }
}

/** The table's gradient `grad` += dRows [rows, maxLength, width] at every real token; adds, as {@link addMeanGradient}. */
function addRowsGradient(grad: TableView, tokens: TokenRows, dRows: Float32Array): void {
  const { values, offset, width } = grad;
  const { ids, rows, maxLength } = tokens;
  for (let p = 0, end = rows * maxLength; p < end; p++) {
    const id = ids[p];
    if (id === 0) continue;
    const to = offset + id * width;
    const from = p * width;
    for (let j = 0; j < width; j++) values[to + j] += dRows[from + j];
  }
}

/** The four loops; the forward ones throw a DistillError naming the first id outside the table. */
export interface TokenFrontLoops {
  meanOfRealTokens(table: TableView, tokens: TokenRows, out: Float32Array): void;
  addMeanGradient(grad: TableView, tokens: TokenRows, dMean: Float32Array): void;
  realTokenRows(table: TableView, tokens: TokenRows, out: Float32Array): void;
  addRowsGradient(grad: TableView, tokens: TokenRows, dRows: Float32Array): void;
}

export const javascriptTokenFrontLoops: TokenFrontLoops = { meanOfRealTokens, addMeanGradient, realTokenRows, addRowsGradient };

/** A native loop's arguments (native/token-front.c); it returns -1 or the index of the first id outside the table. */
type NativeFrontLoop = (
  table: Float32Array,
  offset: number,
  vocabSize: number,
  width: number,
  ids: Float32Array,
  rows: number,
  maxLength: number,
  front: Float32Array,
) => number;

/** The addon's loops (kernels/blas-loader's NativeBlas has them). */
export interface NativeTokenFront {
  realTokenMean: NativeFrontLoop;
  addRealTokenMeanGradient: NativeFrontLoop;
  realTokenRows: NativeFrontLoop;
  addRealTokenRowsGradient: NativeFrontLoop;
}

/** The addon's loops behind the {@link TokenFrontLoops} contract. */
export function nativeTokenFrontLoops(addon: NativeTokenFront): TokenFrontLoops {
  const call = (loop: NativeFrontLoop) => (table: TableView, tokens: TokenRows, front: Float32Array) =>
    checkBadId(
      loop(table.values, table.offset, table.vocabSize, table.width, tokens.ids, tokens.rows, tokens.maxLength, front),
      tokens,
      table.vocabSize,
    );
  return {
    meanOfRealTokens: call(addon.realTokenMean),
    addMeanGradient: call(addon.addRealTokenMeanGradient),
    realTokenRows: call(addon.realTokenRows),
    addRowsGradient: call(addon.addRealTokenRowsGradient),
  };
}

let active: TokenFrontLoops = javascriptTokenFrontLoops;

/** Makes this thread's fused fronts use `loops` from now on (set when the kernels are selected). */
export function useTokenFrontLoops(loops: TokenFrontLoops): void {
  active = loops;
}

/** The loops this thread's fused fronts use: JavaScript unless the native ones were selected. */
export function tokenFrontLoops(): TokenFrontLoops {
  return active;
}
