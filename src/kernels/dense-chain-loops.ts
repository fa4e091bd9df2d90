/**
 * The loops of a plain dense student's training pass (models/dense-chain.ts recognises one; train/dense-chain-
 * step.ts runs it): one dense layer's forward pass, out = act(input @ kernel + bias), into a buffer reused from
 * step to step, and its backward pass, which writes the kernel's and bias's gradients straight into the
 * gradient vector at the weights' own offsets (the shared weights and a rank's exchange slot share one flat
 * layout) and the gradient of the layer's input for the layer below. Two implementations with one contract:
 * the native addon's (native/dense-chain.c, sgemm), which a thread running the openblas kernels trains with,
 * and these JavaScript loops, the reference the tests hold both to (they sum in another order than sgemm, so
 * the two agree to float rounding, not bit for bit).
 */

/** One dense layer's place in the flat weights: kernel [inWidth, units] at kernelOffset, bias [units] at biasOffset (-1: none). */
export interface DenseLayerView {
  inWidth: number;
  units: number;
  kernelOffset: number;
  biasOffset: number;
  /** Whether the layer's output is a ReLU of its affine map (else linear). */
  relu: boolean;
}

/**
 * The loops of one dense layer. No range a call writes may overlap another range it reads or writes (the
 * loops read while they write): both implementations throw when one does. A ReLU passes NaN through, as
 * tfjs's does, so that a step the stock graph finds non-finite is non-finite here too.
 */
export interface DenseChainLoops {
  /** out[rows, units] = act(input[rows, inWidth] @ kernel + bias), the weights read from `weights`. */
  forward(layer: DenseLayerView, input: Float32Array, rows: number, weights: Float32Array, out: Float32Array): void;
  /**
   * With dOut [rows, units] the gradient of the layer's affine map (before its activation): writes the
   * kernel's gradient input^T @ dOut and the bias's (dOut's column sums) into `grad` at the layer's offsets,
   * and, when `dInput` is given, dInput = dOut @ kernel^T, zeroed where input <= 0 when `reluInput` (input is
   * then the output of a ReLU layer below). Returns whether every gradient value written is within `limit`
   * (false for NaN and the infinities).
   */
  backward(
    layer: DenseLayerView,
    input: Float32Array,
    rows: number,
    weights: Float32Array,
    dOut: Float32Array,
    grad: Float32Array,
    dInput: Float32Array | null,
    reluInput: boolean,
    limit: number,
  ): boolean;
}

/** `count` 4-byte values of `array` from `offset`, which a call reads or, when `written`, writes. */
export type Span = [name: string, array: Float32Array | Int32Array, offset: number, count: number, written: boolean];

function overlap([, a, aOffset, aCount]: Span, [, b, bOffset, bCount]: Span): boolean {
  if (a.buffer !== b.buffer || aCount <= 0 || bCount <= 0) return false;
  const aStart = a.byteOffset + 4 * aOffset;
  const bStart = b.byteOffset + 4 * bOffset;
  return aStart < bStart + 4 * bCount && bStart < aStart + 4 * aCount;
}

/** Throws when a range the call writes overlaps another it reads or writes; `fn` names the call. */
export function checkDisjoint(fn: string, spans: Span[]): void {
  for (let i = 0; i < spans.length; i++)
    for (let j = i + 1; j < spans.length; j++)
      if ((spans[i][4] || spans[j][4]) && overlap(spans[i], spans[j]))
        throw new Error(`${fn}: ${spans[i][0]} and ${spans[j][0]} overlap; pass arrays that share no values`);
}

/** The ranges every call reads: the input rows, the kernel and the bias. */
function readSpans(
  { inWidth, units, kernelOffset, biasOffset }: DenseLayerView,
  input: Float32Array,
  rows: number,
  weights: Float32Array,
): Span[] {
  return [
    ['input', input, 0, rows * inWidth, false],
    ['kernel', weights, kernelOffset, inWidth * units, false],
    ['bias', weights, biasOffset, biasOffset === -1 ? 0 : units, false],
  ];
}

function forward(layer: DenseLayerView, input: Float32Array, rows: number, weights: Float32Array, out: Float32Array): void {
  const { inWidth, units, kernelOffset, biasOffset, relu } = layer;
  checkDisjoint('dense chain forward', [...readSpans(layer, input, rows, weights), ['out', out, 0, rows * units, true]]);
  for (let r = 0; r < rows; r++) {
    const o = r * units;
    out.fill(0, o, o + units);
    for (let p = 0; p < inWidth; p++) {
      const x = input[r * inWidth + p];
      const k = kernelOffset + p * units;
      for (let j = 0; j < units; j++) out[o + j] += x * weights[k + j];
    }
    for (let j = 0; j < units; j++) {
      const z = biasOffset === -1 ? out[o + j] : out[o + j] + weights[biasOffset + j];
      out[o + j] = relu && z < 0 ? 0 : z; // NaN stays NaN, as in tfjs's ReLU
    }
  }
}

/** Whether every |values[i]| <= limit for i in [from, to). */
function within(values: Float32Array, from: number, to: number, limit: number): boolean {
  for (let i = from; i < to; i++) if (!(Math.abs(values[i]) <= limit)) return false;
  return true;
}

function backward(
  layer: DenseLayerView,
  input: Float32Array,
  rows: number,
  weights: Float32Array,
  dOut: Float32Array,
  grad: Float32Array,
  dInput: Float32Array | null,
  reluInput: boolean,
  limit: number,
): boolean {
  const { inWidth, units, kernelOffset, biasOffset } = layer;
  checkDisjoint('dense chain backward', [
    ...readSpans(layer, input, rows, weights),
    ['dOut', dOut, 0, rows * units, false],
    ["grad's kernel", grad, kernelOffset, inWidth * units, true],
    ["grad's bias", grad, biasOffset, biasOffset === -1 ? 0 : units, true],
    ['dInput', dInput ?? grad, 0, dInput ? rows * inWidth : 0, true],
  ]);
  grad.fill(0, kernelOffset, kernelOffset + inWidth * units);
  for (let r = 0; r < rows; r++) {
    for (let p = 0; p < inWidth; p++) {
      const x = input[r * inWidth + p];
      const k = kernelOffset + p * units;
      for (let j = 0; j < units; j++) grad[k + j] += x * dOut[r * units + j];
    }
  }
  let ok = within(grad, kernelOffset, kernelOffset + inWidth * units, limit);
  if (biasOffset !== -1) {
    grad.fill(0, biasOffset, biasOffset + units);
    for (let r = 0; r < rows; r++) for (let j = 0; j < units; j++) grad[biasOffset + j] += dOut[r * units + j];
    ok = within(grad, biasOffset, biasOffset + units, limit) && ok;
  }
  if (dInput) {
    for (let r = 0; r < rows; r++) {
      for (let p = 0; p < inWidth; p++) {
        const i = r * inWidth + p;
        if (reluInput && input[i] <= 0) {
          dInput[i] = 0;
          continue;
        }
        let sum = 0;
        const k = kernelOffset + p * units;
        for (let j = 0; j < units; j++) sum = Math.fround(sum + Math.fround(dOut[r * units + j] * weights[k + j]));
        dInput[i] = sum;
      }
    }
  }
  return ok;
}

export const javascriptDenseChainLoops: DenseChainLoops = { forward, backward };

/** The addon's functions (kernels/blas-loader's NativeBlas has them; native/dense-chain.c documents them). */
export interface NativeDenseChain {
  denseForward(
    input: Float32Array,
    rows: number,
    inWidth: number,
    weights: Float32Array,
    kernelOffset: number,
    biasOffset: number,
    units: number,
    out: Float32Array,
    relu: boolean,
  ): void;
  denseBackward(
    input: Float32Array,
    rows: number,
    inWidth: number,
    weights: Float32Array,
    kernelOffset: number,
    biasOffset: number,
    units: number,
    dOut: Float32Array,
    grad: Float32Array,
    dInput: Float32Array | null,
    reluInput: boolean,
    limit: number,
  ): boolean;
}

/** The addon's loops behind the {@link DenseChainLoops} contract. */
export function nativeDenseChainLoops(addon: NativeDenseChain): DenseChainLoops {
  return {
    forward: (layer, input, rows, weights, out) =>
      addon.denseForward(input, rows, layer.inWidth, weights, layer.kernelOffset, layer.biasOffset, layer.units, out, layer.relu),
    backward: (layer, input, rows, weights, dOut, grad, dInput, reluInput, limit) =>
      addon.denseBackward(
        input,
        rows,
        layer.inWidth,
        weights,
        layer.kernelOffset,
        layer.biasOffset,
        layer.units,
        dOut,
        grad,
        dInput,
        reluInput,
        limit,
      ),
  };
}

/** Set to `off` to train plain dense students through tfjs's autograd, as any other model (an A/B switch). */
export const DENSE_CHAIN_ENV = 'TFJS_DISTILL_DENSE_CHAIN';

let active: DenseChainLoops | undefined;

/** Makes this thread's dense students train with `loops` from now on, or through tfjs (undefined); set when the kernels are selected. */
export function useDenseChainLoops(loops: DenseChainLoops | undefined): void {
  active = loops;
}

/**
 * The loops this thread's plain dense students train with: the native ones when the thread runs the openblas
 * kernels (the JavaScript reference would be slower than tfjs's wasm kernels, so without the addon those
 * students train through tfjs), and none when TFJS_DISTILL_DENSE_CHAIN is `off`.
 */
export function denseChainLoops(): DenseChainLoops | undefined {
  return process.env[DENSE_CHAIN_ENV] === 'off' ? undefined : active;
}
