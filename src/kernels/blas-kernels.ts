/**
 * The wasm backend's matMul and conv kernels, computed by OpenBLAS through tfjs-distill's native addon
 * (native/blas.c), and its max-pool gradient and bias-gradient sums in plain C (native/reductions.c), in
 * place on the wasm heap: outputs come from `makeOutput`, operands are read where they
 * lie. The wasm backend's own matMul is fast only untransposed (XNNPACK), and every dense layer's gradient
 * uses transposed ones; sgemm serves every case at full speed. Conv gradients are im2col + sgemm.
 *
 * What a kernel here does not cover (NCHW data, non-float32 tensors, a bias that does not broadcast as a
 * suffix of the output, an activation tfjs-backend-wasm does not fuse) goes to the kernel it replaces.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { check, messageOf } from '../errors.js';
import type { ExchangeLoops } from './exchange-loops.js';
import { convGradientInfo, maxPoolGradInfo } from './conv-geometry.js';
import { floatOffset, heapBuffer } from './wasm-heap.js';

/** The addon's functions (see native/blas.c and native/exchange.c for their contracts). */
interface NativeBlas extends ExchangeLoops {
  load(): string;
  gemm(
    heap: ArrayBuffer,
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    aOffsets: Int32Array,
    bOffsets: Int32Array,
    cOffset: number,
  ): void;
  epilogue(
    heap: ArrayBuffer,
    offset: number,
    count: number,
    biasOffset: number,
    biasSize: number,
    activation: number,
    alpha: number,
    preluOffset: number,
    preluSize: number,
  ): void;
  conv2d(heap: ArrayBuffer, mode: ConvMode, xOffset: number, filterOffset: number, yOffset: number, geometry: Int32Array): void;
  maxPoolGrad(heap: ArrayBuffer, xOffset: number, dyOffset: number, dxOffset: number, geometry: Int32Array): void;
  sumLeadingAxes(heap: ArrayBuffer, xOffset: number, outer: number, inner: number, outOffset: number): void;
}

/** The addon, built by `npm install` (native/build.mjs), relative to dist/models/. */
const ADDON = new URL('../../native/build/tfjs_distill_blas.node', import.meta.url);

/** OpenBLAS through the addon, or why it is unavailable, in one line. */
export type BlasLoad = { blas: NativeBlas; library: string } | { error: string };

let loaded: BlasLoad | undefined;

/** Loads the addon and OpenBLAS once per thread. */
export function loadBlas(): BlasLoad {
  if (loaded) return loaded;
  let blas: NativeBlas;
  try {
    blas = createRequire(import.meta.url)(fileURLToPath(ADDON)) as NativeBlas;
  } catch (error) {
    const why =
      (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND'
        ? "the addon is not built (run 'node native/build.mjs' in the tfjs-distill package to see why)"
        : messageOf(error);
    return (loaded = { error: `native kernels unavailable: ${why}` });
  }
  try {
    return (loaded = { blas, library: blas.load() });
  } catch (error) {
    return (loaded = { error: `OpenBLAS unavailable: ${messageOf(error)} (install libopenblas0 or libopenblas-dev)` });
  }
}

/** The activations tfjs fuses, numbered as tfjs-backend-wasm's FusableActivation and native/blas.c. */
const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, prelu: 3, leakyrelu: 4, sigmoid: 5, elu: 6 };

enum ConvMode {
  Forward = 0,
  InputGrad = 1,
  FilterGrad = 2,
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * The kernelFuncs, by kernel name, that replace `replaced` (the kernels registered before: the wasm
 * backend's own, and tfjs-distill's JS Conv2DBackpropFilter), which they fall back on.
 */
export function blasKernels(blas: NativeBlas, replaced: Record<string, tf.KernelFunc>): Record<string, tf.KernelFunc> {
  const fallback = (name: string, args: KernelArgs) => replaced[name](args);

  function matMul(args: KernelArgs, epilogue?: Epilogue): tf.TensorInfo {
    const wasm = args.backend as BackendWasm;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    const g = matMulGeometry(a.shape, b.shape, transposeA, transposeB);
    const out = wasm.makeOutput(g.outShape, 'float32');
    const [aAt, bAt, outAt] = [floatOffset(wasm, a), floatOffset(wasm, b), floatOffset(wasm, out)];
    const heap = heapBuffer(wasm);
    const aOffsets = g.aBatch.map((i) => aAt + i * g.m * g.k);
    const bOffsets = g.bBatch.map((i) => bAt + i * g.k * g.n);
    blas.gemm(heap, transposeA, transposeB, g.m, g.n, g.k, aOffsets, bOffsets, outAt);
    if (epilogue) applyEpilogue(blas, wasm, out, epilogue);
    return out;
  }

  function conv(
    mode: ConvMode,
    wasm: BackendWasm,
    info: tf.backend_util.Conv2DInfo,
    x: tf.TensorInfo,
    filter: tf.TensorInfo,
    y: tf.TensorInfo,
  ): void {
    const geometry = Int32Array.of(
      info.batchSize,
      info.inHeight,
      info.inWidth,
      info.inChannels,
      info.outHeight,
      info.outWidth,
      info.outChannels,
      info.filterHeight,
      info.filterWidth,
      info.strideHeight,
      info.strideWidth,
      info.dilationHeight,
      info.dilationWidth,
      info.padInfo.top,
      info.padInfo.left,
    );
    blas.conv2d(heapBuffer(wasm), mode, floatOffset(wasm, x), floatOffset(wasm, filter), floatOffset(wasm, y), geometry);
  }

  function convForward(args: KernelArgs, fused: boolean): tf.TensorInfo {
    const name = fused ? 'FusedConv2D' : 'Conv2D';
    const wasm = args.backend as BackendWasm;
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
    if (attrs.dataFormat === 'NCHW' || !allFloat32(x, filter, bias, preluActivationWeights)) return fallback(name, args) as tf.TensorInfo;
    const info = conv2DInfo(x!.shape, filter!.shape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode);
    const epilogue = fused ? fusedEpilogue(info.outShape, attrs, bias, preluActivationWeights) : undefined;
    if (epilogue === null) return fallback(name, args) as tf.TensorInfo;
    const out = wasm.makeOutput([...info.outShape], 'float32');
    conv(ConvMode.Forward, wasm, info, x!, filter!, out);
    if (epilogue) applyEpilogue(blas, wasm, out, epilogue);
    return out;
  }

  /** dx from dy and the filter, or dW from x and dy: the output takes the place of the input it is the gradient of. */
  function convGradient(args: KernelArgs, mode: ConvMode.InputGrad | ConvMode.FilterGrad): tf.TensorInfo {
    const name = mode === ConvMode.InputGrad ? 'Conv2DBackpropInput' : 'Conv2DBackpropFilter';
    const wasm = args.backend as BackendWasm;
    const { x, dy, filter } = args.inputs as Record<string, tf.TensorInfo>;
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs & tf.Conv2DBackpropFilterAttrs;
    const given = mode === ConvMode.InputGrad ? filter : x;
    if (attrs.dataFormat === 'NCHW' || !allFloat32(dy, given)) return fallback(name, args) as tf.TensorInfo;
    const xShape = mode === ConvMode.InputGrad ? attrs.inputShape : x.shape;
    const filterShape = mode === ConvMode.InputGrad ? filter.shape : attrs.filterShape;
    const info = convGradientInfo(name, xShape, filterShape, attrs, dy.shape);
    const out = wasm.makeOutput([...(mode === ConvMode.InputGrad ? xShape : filterShape)], 'float32');
    conv(mode, wasm, info, mode === ConvMode.InputGrad ? out : x, mode === ConvMode.InputGrad ? filter : out, dy);
    return out;
  }

  return {
    MaxPoolGrad(args) {
      const wasm = args.backend as BackendWasm;
      const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
      if (!allFloat32(dy, input)) return fallback('MaxPoolGrad', args);
      const info = maxPoolGradInfo(input.shape, args.attrs as unknown as tf.MaxPoolGradAttrs);
      const geometry = Int32Array.of(
        info.batchSize,
        info.inHeight,
        info.inWidth,
        info.inChannels,
        info.outHeight,
        info.outWidth,
        info.strideHeight,
        info.strideWidth,
        info.effectiveFilterHeight,
        info.effectiveFilterWidth,
        info.padInfo.top,
        info.padInfo.left,
      );
      const out = wasm.makeOutput([...input.shape], 'float32');
      blas.maxPoolGrad(heapBuffer(wasm), floatOffset(wasm, input), floatOffset(wasm, dy), floatOffset(wasm, out), geometry);
      return out;
    },
    Sum(args) {
      // Over leading axes only (every bias gradient); other reductions go to the wasm backend's Sum.
      const wasm = args.backend as BackendWasm;
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
      const k = axes.length;
      if (!allFloat32(x) || k === 0 || k === x.shape.length || !axes.every((a, i) => a === i)) return fallback('Sum', args);
      const inner = tf.util.sizeFromShape(x.shape.slice(k));
      const out = wasm.makeOutput(keepDims ? [...Array<number>(k).fill(1), ...x.shape.slice(k)] : x.shape.slice(k), 'float32');
      blas.sumLeadingAxes(
        heapBuffer(wasm),
        floatOffset(wasm, x),
        tf.util.sizeFromShape(x.shape.slice(0, k)),
        inner,
        floatOffset(wasm, out),
      );
      return out;
    },
    BatchMatMul(args) {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (!allFloat32(a, b)) return fallback('BatchMatMul', args);
      return matMul(args);
    },
    _FusedMatMul(args) {
      const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const attrs = args.attrs as unknown as tf._FusedMatMulAttrs;
      if (!allFloat32(a, b, bias, preluActivationWeights)) return fallback('_FusedMatMul', args);
      const g = matMulGeometry(a!.shape, b!.shape, attrs.transposeA, attrs.transposeB);
      const epilogue = fusedEpilogue(g.outShape, attrs, bias, preluActivationWeights);
      if (epilogue === null) return fallback('_FusedMatMul', args);
      return matMul(args, epilogue);
    },
    Conv2D: (args) => convForward(args, false),
    FusedConv2D: (args) => convForward(args, true),
    Conv2DBackpropInput: (args) => convGradient(args, ConvMode.InputGrad),
    Conv2DBackpropFilter: (args) => convGradient(args, ConvMode.FilterGrad),
  };
}

const allFloat32 = (...tensors: (tf.TensorInfo | undefined)[]) => tensors.every((t) => t == null || t.dtype === 'float32');

function conv2DInfo(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number] | undefined,
  pad: tf.Conv2DAttrs['pad'],
  roundingMode: tf.Conv2DAttrs['dimRoundingMode'],
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations ?? 1,
    pad,
    roundingMode,
  );
}

/** A matMul's sizes, output shape and, per output batch, the batch of A and of B it reads (broadcast). */
interface MatMulGeometry {
  m: number;
  n: number;
  k: number;
  outShape: number[];
  aBatch: Int32Array;
  bBatch: Int32Array;
}

function matMulGeometry(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulGeometry {
  const [ar, br] = [aShape.length, bShape.length];
  const m = transposeA ? aShape[ar - 1] : aShape[ar - 2];
  const k = transposeA ? aShape[ar - 2] : aShape[ar - 1];
  const kB = transposeB ? bShape[br - 1] : bShape[br - 2];
  const n = transposeB ? bShape[br - 2] : bShape[br - 1];
  check(
    k === kB,
    () =>
      `Error in matMul: inner shapes (${k}) and (${kB}) of Tensors with shapes ${aShape} and ${bShape} and ` +
      `transposeA=${transposeA} and transposeB=${transposeB} must match.`,
  );
  const aOuter = aShape.slice(0, -2);
  const bOuter = bShape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const batches = outer.reduce((p, d) => p * d, 1);
  const aBatch = new Int32Array(batches);
  const bBatch = new Int32Array(batches);
  const aStrides = broadcastStrides(aOuter, outer.length);
  const bStrides = broadcastStrides(bOuter, outer.length);
  for (let i = 0; i < batches; i++) {
    // Output batch i's coordinates, last dim fastest; each operand steps only along its non-1 dims.
    let rest = i;
    for (let d = outer.length - 1; d >= 0; d--) {
      const coord = rest % outer[d];
      rest = (rest - coord) / outer[d];
      aBatch[i] += coord * aStrides[d];
      bBatch[i] += coord * bStrides[d];
    }
  }
  return { m, n, k, outShape: [...outer, m, n], aBatch, bBatch };
}

/** Row-major strides of `shape` right-aligned to `rank` dims, 0 where it broadcasts (size 1 or absent). */
function broadcastStrides(shape: number[], rank: number): number[] {
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let d = shape.length - 1, o = rank - 1; d >= 0; d--, o--) {
    strides[o] = shape[d] === 1 ? 0 : stride;
    stride *= shape[d];
  }
  return strides;
}

/** Bias and activation applied to a fused kernel's output. */
interface Epilogue {
  bias?: tf.TensorInfo;
  activation: number;
  alpha: number;
  prelu?: tf.TensorInfo;
}

/**
 * The epilogue of a fused kernel, or null when it is not one the native code applies: an activation
 * tfjs-backend-wasm does not fuse, or a bias / prelu weight that does not broadcast as a suffix of the
 * output shape (the native loop indexes them by element index modulo their size).
 */
function fusedEpilogue(
  outShape: number[],
  attrs: { activation?: string; leakyreluAlpha?: number },
  bias: tf.TensorInfo | undefined,
  prelu: tf.TensorInfo | undefined,
): Epilogue | null {
  const activation = ACTIVATIONS[attrs.activation ?? 'linear'];
  if (activation === undefined) return null;
  if (bias && !isSuffix(bias.shape, outShape)) return null;
  if (activation === ACTIVATIONS.prelu && (!prelu || !isSuffix(prelu.shape, outShape))) return null;
  return { bias, activation, alpha: attrs.leakyreluAlpha ?? 0, prelu: activation === ACTIVATIONS.prelu ? prelu : undefined };
}

/** `shape`, without its leading 1s, equals the trailing dims of `of`. */
function isSuffix(shape: number[], of: number[]): boolean {
  const core = shape.slice(shape.findIndex((d) => d !== 1) === -1 ? shape.length : shape.findIndex((d) => d !== 1));
  return core.length <= of.length && tf.util.arraysEqual(core, of.slice(of.length - core.length));
}

function applyEpilogue(blas: NativeBlas, wasm: BackendWasm, out: tf.TensorInfo, e: Epilogue): void {
  const size = (t?: tf.TensorInfo) => (t ? tf.util.sizeFromShape(t.shape) : 0);
  const at = (t?: tf.TensorInfo) => (t ? floatOffset(wasm, t) : 0);
  blas.epilogue(heapBuffer(wasm), at(out), size(out), at(e.bias), size(e.bias), e.activation, e.alpha, at(e.prelu), size(e.prelu));
}
