/**
 * The loops of a cnn1d student's front while it trains (models/token-conv.ts recognises one; train/token-conv-
 * step.ts runs it): from the token ids and the embedding table to each row's maximum of each filter over its
 * real tokens, as the stock layers compute it (embedding with padding zeroed, a same-padded Conv1D with bias
 * and ReLU, padding zeroed, the global maximum), and back from that maximum's gradient to the table's, the
 * filters' and the bias's, written straight into the gradient vector at the weights' own offsets.
 *
 * Forward: the im2col rows of the real tokens' windows (padding and the row's ends read as zeros), one product
 * with the filters, then bias, ReLU and each (row, filter)'s maximum with the first position holding it.
 * Padding positions are not computed: the stock graph zeroes their outputs, which leaves a maximum of ReLU
 * outputs (>= 0) alone, and sends them no gradient. Backward: tfjs's Max sends a row's gradient to every
 * position equal to its maximum, and ReLU's gradient is 0 where its output is 0, so only positive maxima pass,
 * each to every position that holds it: a sparse pass of rows x filters positions, not a dense one.
 *
 * Two implementations with one contract: the native addon's (native/token-conv.c, sgemm), which a thread
 * running the openblas kernels trains with, and these JavaScript loops, the reference the tests hold both to
 * (the product sums in another order than sgemm, so the two agree to float rounding, not bit for bit).
 */
import {
  type DenseChainLoops,
  checkDisjoint,
  javascriptDenseChainLoops,
  nativeDenseChainLoops,
  type NativeDenseChain,
  type Span,
} from './dense-chain-loops.js';
import { checkBadId, firstBadId } from './token-front-loops.js';

/** Where a cnn1d student's front lies in the flat weights (and gradient), and its sizes. */
export interface TokenConvLayout {
  /** The table [vocabSize, width]. */
  tableOffset: number;
  vocabSize: number;
  width: number;
  /** The filters [kernelSize, width, filters] and the bias [filters]. */
  kernelOffset: number;
  biasOffset: number;
  kernelSize: number;
  filters: number;
  maxLength: number;
}

/** The layout as the loops take it (an Int32Array, in the order native/token-conv.c reads it). */
export function layoutValues(layout: TokenConvLayout): Int32Array {
  const { tableOffset, vocabSize, width, kernelOffset, biasOffset, kernelSize, filters, maxLength } = layout;
  return Int32Array.of(tableOffset, vocabSize, width, kernelOffset, biasOffset, kernelSize, filters, maxLength);
}

/**
 * What the forward pass writes and the backward pass reads, sized for up to `maxRows` rows and reused from
 * step to step: the im2col rows `col`, the outputs after ReLU `out` (both per computed position), the maxima
 * `pooled` [rows, filters], and `index`: where each row's computed positions start [rows + 1], each (row,
 * filter)'s first position holding its maximum (-1: none above 0) and whether another holds it too [rows x
 * filters each], and each computed position's place in the ids.
 */
export class TokenConvBuffers {
  readonly layout: Int32Array;
  readonly col: Float32Array;
  readonly out: Float32Array;
  readonly pooled: Float32Array;
  readonly index: Int32Array;

  constructor(layout: TokenConvLayout, maxRows: number) {
    const { maxLength, kernelSize, width, filters } = layout;
    const positions = maxRows * maxLength;
    this.layout = layoutValues(layout);
    this.col = new Float32Array(positions * kernelSize * width);
    this.out = new Float32Array(positions * filters);
    this.pooled = new Float32Array(maxRows * filters);
    this.index = new Int32Array(maxRows + 1 + 2 * maxRows * filters + positions);
  }
}

/**
 * The two passes. No range a call writes may overlap another it reads or writes: both implementations throw
 * when one does. A NaN output makes its maximum NaN, so that a step the stock graph finds non-finite is
 * non-finite here too.
 */
export interface TokenConvLoops {
  /** buffers.pooled [rows, filters] from ids [rows, maxLength]; throws a DistillError naming the first id outside the table. */
  forward(weights: Float32Array, ids: Float32Array, rows: number, buffers: TokenConvBuffers): void;
  /**
   * With dPooled [rows, filters] the gradient of the last forward pass's maxima (over the same ids): writes the
   * table's, the filters' and the bias's gradients into `grad` at their offsets. Returns whether every value
   * written is within `limit` (false for NaN and the infinities).
   */
  backward(
    weights: Float32Array,
    ids: Float32Array,
    rows: number,
    buffers: TokenConvBuffers,
    dPooled: Float32Array,
    grad: Float32Array,
    limit: number,
  ): boolean;
}

/** The layout's numbers, read back from the Int32Array. */
function layoutOf(values: Int32Array): TokenConvLayout & { span: number; padLeft: number } {
  const [tableOffset, vocabSize, width, kernelOffset, biasOffset, kernelSize, filters, maxLength] = values;
  // tfjs's 'same' padding at stride 1 puts the odd one of kernelSize - 1 zeros after the row.
  return {
    tableOffset,
    vocabSize,
    width,
    kernelOffset,
    biasOffset,
    kernelSize,
    filters,
    maxLength,
    span: kernelSize * width,
    padLeft: (kernelSize - 1) >> 1,
  };
}

/** The index's parts for `rows` rows. */
function indexParts(index: Int32Array, rows: number, filters: number, maxLength: number) {
  const maxima = rows * filters;
  return {
    rowStart: index.subarray(0, rows + 1),
    argmax: index.subarray(rows + 1, rows + 1 + maxima),
    tied: index.subarray(rows + 1 + maxima, rows + 1 + 2 * maxima),
    positions: index.subarray(rows + 1 + 2 * maxima, rows + 1 + 2 * maxima + rows * maxLength),
  };
}

/** The ranges every call reads or writes (the buffers written by the forward pass). */
function spans(weights: Float32Array, ids: Float32Array, rows: number, buffers: TokenConvBuffers, forward: boolean): Span[] {
  const { tableOffset, vocabSize, width, kernelOffset, biasOffset, filters, maxLength, span } = layoutOf(buffers.layout);
  const positions = rows * maxLength;
  return [
    ['table', weights, tableOffset, vocabSize * width, false],
    ['kernel', weights, kernelOffset, span * filters, false],
    ['bias', weights, biasOffset, filters, false],
    ['ids', ids, 0, positions, false],
    ['col', buffers.col, 0, positions * span, forward],
    ['out', buffers.out, 0, positions * filters, forward],
    ['pooled', buffers.pooled, 0, rows * filters, forward],
    ['index', buffers.index, 0, rows + 1 + 2 * rows * filters + positions, forward],
  ];
}

function forward(weights: Float32Array, ids: Float32Array, rows: number, buffers: TokenConvBuffers): void {
  const { tableOffset, vocabSize, width, kernelOffset, biasOffset, kernelSize, filters, maxLength, span, padLeft } = layoutOf(
    buffers.layout,
  );
  checkDisjoint('token conv forward', spans(weights, ids, rows, buffers, true));
  checkBadId(firstBadId({ ids, rows, maxLength }, vocabSize), { ids, rows, maxLength }, vocabSize);
  const { col, out, pooled } = buffers;
  const { rowStart, argmax, tied, positions } = indexParts(buffers.index, rows, filters, maxLength);
  let real = 0;
  for (let b = 0; b < rows; b++) {
    rowStart[b] = real;
    for (let p = 0; p < maxLength; p++) {
      if (ids[b * maxLength + p] === 0) continue;
      for (let k = 0; k < kernelSize; k++) {
        const q = p + k - padLeft;
        const to = real * span + k * width;
        const id = q >= 0 && q < maxLength ? ids[b * maxLength + q] : 0;
        if (id === 0) col.fill(0, to, to + width);
        else col.set(weights.subarray(tableOffset + id * width, tableOffset + (id + 1) * width), to);
      }
      positions[real++] = b * maxLength + p;
    }
  }
  rowStart[rows] = real;
  for (let b = 0; b < rows; b++) {
    const m = b * filters;
    pooled.fill(0, m, m + filters);
    argmax.fill(-1, m, m + filters);
    tied.fill(0, m, m + filters);
    for (let r = rowStart[b]; r < rowStart[b + 1]; r++) {
      for (let f = 0; f < filters; f++) {
        let sum = 0;
        for (let j = 0; j < span; j++) sum = Math.fround(sum + Math.fround(col[r * span + j] * weights[kernelOffset + j * filters + f]));
        const z = Math.fround(sum + weights[biasOffset + f]);
        const v = Math.max(z, 0); // NaN stays NaN, as in tfjs's ReLU
        out[r * filters + f] = v;
        if (v > pooled[m + f]) {
          pooled[m + f] = v;
          argmax[m + f] = r;
          tied[m + f] = 0;
        } else if (v === pooled[m + f] && v > 0) tied[m + f] = 1;
        else if (Number.isNaN(v)) pooled[m + f] = v;
      }
    }
  }
}

/** Whether every |values[i]| <= limit for i in [from, to). */
function within(values: Float32Array, from: number, to: number, limit: number): boolean {
  for (let i = from; i < to; i++) if (!(Math.abs(values[i]) <= limit)) return false;
  return true;
}

const backward: TokenConvLoops['backward'] = (weights, ids, rows, buffers, dPooled, grad, limit) => {
  const { tableOffset, vocabSize, width, kernelOffset, biasOffset, kernelSize, filters, maxLength, span, padLeft } = layoutOf(
    buffers.layout,
  );
  checkDisjoint('token conv backward', [
    ...spans(weights, ids, rows, buffers, false),
    ['dPooled', dPooled, 0, rows * filters, false],
    ["grad's table", grad, tableOffset, vocabSize * width, true],
    ["grad's kernel", grad, kernelOffset, span * filters, true],
    ["grad's bias", grad, biasOffset, filters, true],
  ]);
  const { col, out, pooled } = buffers;
  const { rowStart, argmax, tied, positions } = indexParts(buffers.index, rows, filters, maxLength);
  grad.fill(0, tableOffset, tableOffset + vocabSize * width);
  grad.fill(0, kernelOffset, kernelOffset + span * filters);
  grad.fill(0, biasOffset, biasOffset + filters);
  const addAt = (b: number, r: number, f: number, g: number) => {
    grad[biasOffset + f] += g;
    for (let j = 0; j < span; j++) grad[kernelOffset + j * filters + f] += Math.fround(col[r * span + j] * g);
    const p = positions[r] - b * maxLength;
    for (let k = 0; k < kernelSize; k++) {
      const q = p + k - padLeft;
      const id = q >= 0 && q < maxLength ? ids[b * maxLength + q] : 0;
      if (id === 0) continue;
      for (let c = 0; c < width; c++)
        grad[tableOffset + id * width + c] += Math.fround(weights[kernelOffset + (k * width + c) * filters + f] * g);
    }
  };
  for (let b = 0; b < rows; b++) {
    for (let f = 0; f < filters; f++) {
      const i = b * filters + f;
      const max = pooled[i];
      if (!(max > 0)) continue; // ReLU's gradient is 0 at 0: no position gets any
      if (!tied[i]) addAt(b, argmax[i], f, dPooled[i]);
      else for (let r = argmax[i]; r < rowStart[b + 1]; r++) if (out[r * filters + f] === max) addAt(b, r, f, dPooled[i]);
    }
  }
  return (
    within(grad, tableOffset, tableOffset + vocabSize * width, limit) &&
    within(grad, kernelOffset, kernelOffset + span * filters, limit) &&
    within(grad, biasOffset, biasOffset + filters, limit)
  );
};

export const javascriptTokenConvLoops: TokenConvLoops = { forward, backward };

/** The arguments both of the addon's functions begin with: the weights, the layout, the ids and the buffers. */
type NativeTokenConvArgs = [
  weights: Float32Array,
  layout: Int32Array,
  ids: Float32Array,
  rows: number,
  col: Float32Array,
  out: Float32Array,
  pooled: Float32Array,
  index: Int32Array,
];

/** The addon's functions (kernels/blas-loader's NativeBlas has them; native/token-conv.c documents them). */
export interface NativeTokenConv {
  /** Returns -1, or the index of the first id outside the table. */
  tokenConvForward(...args: NativeTokenConvArgs): number;
  tokenConvBackward(...args: [...NativeTokenConvArgs, dPooled: Float32Array, grad: Float32Array, limit: number]): boolean;
}

/** The addon's loops behind the {@link TokenConvLoops} contract. */
export function nativeTokenConvLoops(addon: NativeTokenConv): TokenConvLoops {
  return {
    forward(weights, ids, rows, { layout, col, out, pooled, index }) {
      const maxLength = layout[7];
      const bad = addon.tokenConvForward(weights, layout, ids, rows, col, out, pooled, index);
      checkBadId(bad, { ids, rows, maxLength }, layout[1]);
    },
    backward: (weights, ids, rows, { layout, col, out, pooled, index }, dPooled, grad, limit) =>
      addon.tokenConvBackward(weights, layout, ids, rows, col, out, pooled, index, dPooled, grad, limit),
  };
}

/** A cnn1d student's loops: its front's, and the dense chain's for the layers after the maximum. */
export interface TokenConvStudentLoops {
  conv: TokenConvLoops;
  dense: DenseChainLoops;
}

/** The JavaScript reference of both. */
export const javascriptTokenConvStudentLoops: TokenConvStudentLoops = { conv: javascriptTokenConvLoops, dense: javascriptDenseChainLoops };

/** The addon's loops of both. */
export function nativeTokenConvStudentLoops(addon: NativeTokenConv & NativeDenseChain): TokenConvStudentLoops {
  return { conv: nativeTokenConvLoops(addon), dense: nativeDenseChainLoops(addon) };
}

/** Set to `off` to train cnn1d students with only their token front fused, the rest through tfjs (an A/B switch). */
export const TOKEN_CONV_ENV = 'TFJS_DISTILL_TOKEN_CONV';

let active: TokenConvStudentLoops | undefined;

/** Makes this thread's cnn1d students train with `loops` from now on, or through the token front and tfjs (undefined); set when the kernels are selected. */
export function useTokenConvLoops(loops: TokenConvStudentLoops | undefined): void {
  active = loops;
}

/**
 * The loops this thread's cnn1d students train with: the native ones when the thread runs the openblas kernels
 * (the JavaScript product would be slower than tfjs's wasm conv, so without the addon those students train
 * through the token front and tfjs), and none when TFJS_DISTILL_TOKEN_CONV is `off`.
 */
export function tokenConvLoops(): TokenConvStudentLoops | undefined {
  return process.env[TOKEN_CONV_ENV] === 'off' ? undefined : active;
}
