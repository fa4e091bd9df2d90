/**
 * Kernels the tfjs wasm backend lacks but training needs. Without them, the first gradient of a conv2d
 * on wasm dies with "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'".
 *
 * - Conv2DBackpropFilter gets a real implementation (im2col + the wasm BatchMatMul): the cpu backend's
 *   version runs at ~0.01 GFLOP/s, far too slow to fall back on. (Its sibling for Conv2DBackpropInput,
 *   conv2DBackpropInputViaMatMul, replaces a kernel wasm has, so kernel-choice.ts installs it.)
 * - The depthwise conv gradients and UnsortedSegmentSum (the gradient of gather) are plain JS loops on
 *   the wasm heap: their cpu versions are also slow enough to matter (the cpu UnsortedSegmentSum does
 *   numSegments passes over its input: ~5 s for the gradient of a 1000-row gather).
 * - replaceWasmKernels puts two of tfjs-distill's in place of the backend's own: Identity shares its
 *   input's data instead of copying it, and MaxPoolGrad is a faster JS loop that breaks ties as the cpu
 *   backend does.
 * - Every other kernel the cpu backend has and wasm lacks is bridged: inputs are copied to the cpu
 *   backend, its kernel runs there, and the outputs are copied back.
 *
 * This reaches into tfjs-backend-wasm 4.22 internals (makeOutput, typedArrayFromHeap, disposeData, and
 * the kernelFuncs of its own kernels); the versions are pinned in package.json.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { check, DistillError } from '../errors.js';
import { convGradientInfo, maxPoolGradInfo } from './conv-geometry.js';

const WASM = 'wasm';

/**
 * Most elements of the im2col matrix held at once (64 MB of float32). Larger batches are processed in
 * chunks of whole images and their partial gradients summed, so the wasm heap stays small.
 */
const COL_BUDGET = 1 << 24;

/**
 * cpu kernels the bridge cannot carry, and why. The wasm backend cannot store complex64 (its heap holds
 * float32/int32/bool, and the cpu backend keeps complex values as a pair of hidden real/imag tensors),
 * so everything that takes or makes complex tensors stays unregistered; Draw paints on a DOM canvas.
 * String kernels (StaticRegexReplace) do bridge: both backends hold strings as arrays of UTF-8 bytes.
 */
const NOT_BRIDGED: Record<string, string> = {
  Complex: 'makes complex64',
  ComplexAbs: 'takes complex64',
  FFT: 'takes complex64',
  IFFT: 'takes complex64',
  Imag: 'takes complex64',
  Real: 'takes complex64',
  Draw: 'draws on a browser canvas',
};

/**
 * Registers, for the wasm backend, the kernels it lacks (see the module comment), and returns one short
 * description per kernel registered by this call. Idempotent: kernels already registered for wasm,
 * by an earlier call or by anyone else, are left alone, so a second call returns [].
 *
 * Call it after `import '@tensorflow/tfjs-backend-wasm'` (which registers the wasm kernels this builds on);
 * it may run before or after `tf.setBackend('wasm')`.
 */
export function registerMissingWasmKernels(): string[] {
  wasmKernel('BatchMatMul'); // fails early, with the fix, when the wasm backend was never imported
  const registered: string[] = [];
  const register = (kernelName: string, kernelFunc: tf.KernelFunc, description: string) => {
    if (tf.getKernel(kernelName, WASM) != null) return;
    tf.registerKernel({ kernelName, backendName: WASM, kernelFunc });
    registered.push(`${kernelName}: ${description}`);
  };

  register('Conv2DBackpropFilter', conv2DBackpropFilter, 'im2col + wasm matMul');
  register('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter, 'JS loops on the wasm heap');
  register('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput, 'JS loops on the wasm heap');
  register('UnsortedSegmentSum', unsortedSegmentSum, 'JS loop on the wasm heap');
  for (const { kernelName, kernelFunc } of tf.getKernelsForBackend('cpu')) {
    if (kernelName in NOT_BRIDGED) continue;
    register(kernelName, bridgeFromCpu(kernelName, kernelFunc), "cpu backend's kernel, data copied across");
  }
  return registered;
}

/**
 * Puts tfjs-distill's versions in place of two kernels the wasm backend has (see the module comment), and
 * returns one short description per kernel replaced by this call: [] when an earlier call replaced them.
 */
export function replaceWasmKernels(): string[] {
  const registered: string[] = [];
  const replace = (kernelName: string, make: (own: tf.KernelFunc) => tf.KernelFunc, description: string) => {
    const config = wasmKernelConfig(kernelName);
    if (replaced.has(config.kernelFunc)) return;
    const kernelFunc = make(config.kernelFunc);
    replaced.add(kernelFunc);
    tf.unregisterKernel(kernelName, WASM);
    tf.registerKernel({ ...config, kernelFunc });
    registered.push(`${kernelName}: ${description}`);
  };
  replace('Identity', sharedIdentity, "shares its input's data instead of copying it");
  replace('MaxPoolGrad', maxPoolGrad, 'JS loop on the wasm heap (faster, and breaks ties as the cpu backend does)');
  return registered;
}

/** The kernelFuncs replaceWasmKernels put in place of the backend's own. */
const replaced = new Set<tf.KernelFunc>();

/**
 * Identity that shares its input's data, as the wasm Reshape does, where the wasm backend's own copies it.
 * tfjs clones every tensor a gradient saves (each layer's weights and inputs), so on a dense model those
 * copies were ~5% of a training step. Sharing is safe: tensors are immutable, and a Variable's assign
 * replaces its data rather than writing into it. Strings still go to the backend's own.
 */
const sharedIdentity =
  (own: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    if (x.dtype === 'string') return own(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };

/**
 * The gradient of a max pool: each dy value goes to the input position that was the maximum of its
 * window, the first one in row-major order on ties, as the cpu backend does (the wasm backend's own
 * kernel picks other positions on ties, and is slower: bench/kernels.mjs times both).
 * One pass over the windows, all channels of a window at once.
 */
const maxPoolGrad =
  (own: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const wasm = args.backend as BackendWasm;
    const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') return own(args);
    const info = maxPoolGradInfo(input.shape, args.attrs as unknown as tf.MaxPoolGradAttrs);
    const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight, outWidth, strideHeight, strideWidth } = info;
    const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
    const out = wasm.makeOutput([...input.shape], 'float32');
    const [dx, x, g] = [heap(wasm, out), heap(wasm, input), heap(wasm, dy)];
    dx.fill(0);
    const best = new Float32Array(c);
    const at = new Int32Array(c);
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        const y0 = oy * strideHeight - info.padInfo.top;
        for (let ox = 0; ox < outWidth; ox++) {
          const x0 = ox * strideWidth - info.padInfo.left;
          best.fill(-Infinity);
          at.fill(-1);
          const [yFrom, yTo, xFrom, xTo] = [Math.max(y0, 0), Math.min(y0 + fh, h), Math.max(x0, 0), Math.min(x0 + fw, w)];
          for (let iy = yFrom; iy < yTo; iy++) {
            for (let ix = xFrom; ix < xTo; ix++) {
              const base = ((b * h + iy) * w + ix) * c;
              for (let d = 0; d < c; d++) {
                const v = x[base + d];
                if (v > best[d]) {
                  best[d] = v;
                  at[d] = base + d;
                }
              }
            }
          }
          const from = ((b * outHeight + oy) * outWidth + ox) * c;
          for (let d = 0; d < c; d++) if (at[d] >= 0) dx[at[d]] += g[from + d];
        }
      }
    }
    return out;
  };

/** The kernelFunc the wasm backend registered for `name`. */
function wasmKernel(name: string): tf.KernelFunc {
  return wasmKernelConfig(name).kernelFunc;
}

/** The config the wasm backend registered for `name` (or a replacement of it). */
function wasmKernelConfig(name: string): tf.KernelConfig {
  const config = tf.getKernel(name, WASM);
  if (config == null) {
    throw new DistillError(
      `the wasm backend has no ${name} kernel: import '@tensorflow/tfjs-backend-wasm' before calling registerMissingWasmKernels()`,
    );
  }
  return config;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * A float32 view of a tensor on the wasm heap. Take it only after the last allocation: growing the heap
 * detaches old views.
 */
function heap(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/**
 * dW[K = KH*KW*CI, CO] = colT[K, M] @ dy[M, CO], with colT the transposed im2col matrix of x (M = N*OH*OW
 * output pixels), built directly in that layout so that no transpose is needed anywhere.
 *
 * The operand order matters more than it looks. The wasm BatchMatMul is fast only untransposed and with
 * batch 1 (then it is an XNNPACK fully-connected op; transposed operands fall into a scalar loop ~10x
 * slower), and XNNPACK treats B as the layer's weights: it re-packs B on every call with a new B tensor,
 * a cost proportional to B's size that a big B makes dominant. Measured for x [64,14,14,32], 3x3x32x64:
 * (dy^T [64,M]) @ (col [M,288]) took ~200 ms, colT @ (dy [M,64]) ~34 ms. So B is dy, which has CO columns
 * where col has K = KH*KW*CI, usually several times more.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  check(dataFormat !== 'NCHW', 'Conv2DBackpropFilter on wasm supports only NHWC (channels-last) data; transpose the input to NHWC first');
  check(
    x.dtype === 'float32' && dy.dtype === 'float32',
    `Conv2DBackpropFilter on wasm needs float32 tensors, got x ${x.dtype} and dy ${dy.dtype}`,
  );
  const info = convGradientInfo('Conv2DBackpropFilter', x.shape, filterShape, { strides, pad, dimRoundingMode }, dy.shape);
  const { batchSize: n, outHeight, outWidth, outChannels: co } = info;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = outHeight * outWidth;

  if (n === 0) return zeros(wasm, filterShape);
  const matMul = wasmKernel('BatchMatMul');
  const imagesPerChunk = Math.max(1, Math.min(n, Math.floor(COL_BUDGET / (pixels * k))));
  let sum: tf.TensorInfo | undefined; // dW as [1, K, CO], summed over chunks
  for (let n0 = 0; n0 < n; n0 += imagesPerChunk) {
    const images = Math.min(imagesPerChunk, n - n0);
    const m = images * pixels;
    const colT = wasm.makeOutput([1, k, m], 'float32');
    // dy's rows are copied (a plain memcpy) even when one chunk covers them all: XNNPACK caches the packed B
    // under B's tensor id, with no shape in the key, until that tensor is freed. Keyed on dy itself, a
    // later matMul using dy reshaped differently as B would reuse the wrong operator; keyed on this copy,
    // the cache entry goes when the copy does, a few lines below.
    const dyRows = wasm.makeOutput([1, m, co], 'float32');
    im2colTransposed(heap(wasm, x), heap(wasm, colT), n0, images, info);
    heap(wasm, dyRows).set(heap(wasm, dy).subarray(n0 * pixels * co, (n0 + images) * pixels * co));
    const product = matMul({
      inputs: { a: colT, b: dyRows },
      backend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
    wasm.disposeData(colT.dataId);
    wasm.disposeData(dyRows.dataId);
    if (sum === undefined) {
      sum = product;
    } else {
      const into = heap(wasm, sum);
      const from = heap(wasm, product);
      for (let i = 0; i < into.length; i++) into[i] += from[i];
      wasm.disposeData(product.dataId);
    }
  }
  // [K,CO] is [KH,KW,CI,CO] in memory; like the wasm Reshape kernel, only the TensorInfo's shape changes.
  return { dataId: sum!.dataId, shape: [...filterShape], dtype: 'float32' };
}

/**
 * Conv2DBackpropInput for the wasm kernel set, replacing the backend's own (about 1.2 GFLOP/s): per chunk of
 * whole images, dcol[M, K] = dy[M, CO] @ W^T[CO, K] as an untransposed wasm matMul (XNNPACK), then col2im
 * adds each dcol row back onto the input pixels its taps read. NCHW data goes to `fallback` (the
 * backend's own kernel).
 */
export function conv2DBackpropInputViaMatMul(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const wasm = args.backend as BackendWasm;
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const { dataFormat, inputShape } = attrs;
    if (dataFormat === 'NCHW' || dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback(args);
    const info = convGradientInfo('Conv2DBackpropInput', inputShape, filter.shape, attrs, dy.shape);
    const { batchSize: n, outHeight, outWidth, outChannels: co } = info;
    const k = info.filterHeight * info.filterWidth * info.inChannels;
    const pixels = outHeight * outWidth;
    const dx = zeros(wasm, [...inputShape]);
    if (n === 0 || pixels === 0 || k === 0) return dx;
    const matMul = wasmKernel('BatchMatMul');
    // W^T [CO, K] as a fresh tensor: XNNPACK caches its packed B under B's id, and this one goes with the call.
    const filterT = wasm.makeOutput([1, co, k], 'float32');
    const [w, wt] = [heap(wasm, filter), heap(wasm, filterT)];
    for (let i = 0; i < k; i++) for (let o = 0; o < co; o++) wt[o * k + i] = w[i * co + o];
    const imagesPerChunk = Math.max(1, Math.min(n, Math.floor(COL_BUDGET / (pixels * k))));
    try {
      for (let n0 = 0; n0 < n; n0 += imagesPerChunk) {
        const images = Math.min(imagesPerChunk, n - n0);
        const dyRows = wasm.makeOutput([1, images * pixels, co], 'float32');
        heap(wasm, dyRows).set(heap(wasm, dy).subarray(n0 * pixels * co, (n0 + images) * pixels * co));
        const dcol = matMul({
          inputs: { a: dyRows, b: filterT },
          backend: wasm,
          attrs: { transposeA: false, transposeB: false },
        }) as tf.TensorInfo;
        wasm.disposeData(dyRows.dataId);
        col2im(heap(wasm, dcol), heap(wasm, dx), n0, images, info);
        wasm.disposeData(dcol.dataId);
      }
    } finally {
      wasm.disposeData(filterT.dataId);
    }
    return dx;
  };
}

/**
 * Adds col [M, K] (rows (n, oy, ox), columns (ky, kx, ci)) back onto dx: row (n, oy, ox), tap (ky, kx) goes
 * to pixel (n0 + n, oy*sh - top + ky, ox*sw - left + kx), where that lies inside the input.
 */
function col2im(col: Float32Array, dx: Float32Array, n0: number, images: number, info: tf.backend_util.Conv2DInfo): void {
  const { inHeight: h, inWidth: w, inChannels: ci, outHeight, outWidth, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const k = kh * kw * ci;
  for (let ky = 0; ky < kh; ky++) {
    const [oyLo, oyHi] = validOutputs(top, ky, sh, h, outHeight);
    for (let kx = 0; kx < kw; kx++) {
      const [oxLo, oxHi] = validOutputs(left, kx, sw, w, outWidth);
      const tap = (ky * kw + kx) * ci;
      for (let b = 0; b < images; b++) {
        for (let oy = oyLo; oy < oyHi; oy++) {
          const iy = oy * sh - top + ky;
          let src = ((b * outHeight + oy) * outWidth + oxLo) * k + tap;
          let dst = (((n0 + b) * h + iy) * w + oxLo * sw - left + kx) * ci;
          for (let ox = oxLo; ox < oxHi; ox++, src += k, dst += sw * ci) {
            for (let c = 0; c < ci; c++) dx[dst + c] += col[src + c];
          }
        }
      }
    }
  }
}

/** A float32 tensor of zeros on the wasm heap. */
function zeros(backend: BackendWasm, shape: number[]): tf.TensorInfo {
  const out = backend.makeOutput([...shape], 'float32');
  heap(backend, out).fill(0);
  return out;
}

/**
 * Writes the transposed im2col matrix of images n0..n0+images-1 of x into colT [K, M]: row
 * (ky, kx, ci), column (n, oy, ox) holds x[n, oy*sh - top + ky, ox*sw - left + kx, ci], or 0 where that
 * falls in the padding. For each (ky, kx) the output pixels whose tap lands inside x form a rectangle
 * [oyLo, oyHi) x [oxLo, oxHi), so the inner loops need no bounds tests.
 */
function im2colTransposed(x: Float32Array, colT: Float32Array, n0: number, images: number, info: tf.backend_util.Conv2DInfo): void {
  const { inHeight: h, inWidth: w, inChannels: ci, outHeight, outWidth, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const m = images * outHeight * outWidth;
  colT.fill(0); // the padding; everything else is overwritten below
  for (let ky = 0; ky < kh; ky++) {
    const [oyLo, oyHi] = validOutputs(top, ky, sh, h, outHeight);
    for (let kx = 0; kx < kw; kx++) {
      const [oxLo, oxHi] = validOutputs(left, kx, sw, w, outWidth);
      const rowBase = (ky * kw + kx) * ci * m;
      for (let n = 0; n < images; n++) {
        for (let oy = oyLo; oy < oyHi; oy++) {
          const iy = oy * sh - top + ky;
          let col = (n * outHeight + oy) * outWidth + oxLo;
          let src = (((n0 + n) * h + iy) * w + oxLo * sw - left + kx) * ci;
          for (let ox = oxLo; ox < oxHi; ox++, col++, src += sw * ci) {
            // Channel c goes to row (ky, kx, c): stride m apart.
            for (let c = 0, at = rowBase + col; c < ci; c++, at += m) colT[at] = x[src + c];
          }
        }
      }
    }
  }
}

/** Conv2DInfo for a depthwise kernel; tfjs's own gradient allows only dilation 1, and so do these kernels. */
function depthwiseInfo(
  kernelName: string,
  xShape: number[],
  filterShape: number[],
  attrs: tf.DepthwiseConv2dNativeBackpropFilterAttrs | tf.DepthwiseConv2dNativeBackpropInputAttrs,
): tf.backend_util.Conv2DInfo {
  const { strides, dilations, pad, dimRoundingMode } = attrs;
  const d = typeof dilations === 'number' ? [dilations, dilations] : (dilations ?? [1, 1]);
  check(d[0] === 1 && d[1] === 1, `${kernelName} on wasm supports only dilation 1, got [${d}]`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
}

/**
 * Calls `visit(xOff, dyOff, wBase)` for every (input pixel, output pixel, filter tap) a depthwise conv
 * connects: the offsets of the pixel's channel 0 in x, of the output's channel 0 in dy, and of the tap's
 * channel 0 in the filter. Both depthwise gradients walk this same nest.
 */
function forEachDepthwiseTap(info: tf.backend_util.Conv2DInfo, visit: (xOff: number, dyOff: number, wBase: number) => void): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight, outWidth, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  for (let ky = 0; ky < kh; ky++) {
    const [oyLo, oyHi] = validOutputs(top, ky, sh, h, outHeight);
    for (let kx = 0; kx < kw; kx++) {
      const [oxLo, oxHi] = validOutputs(left, kx, sw, w, outWidth);
      const wBase = (ky * kw + kx) * co; // [KH,KW,CI,CM] flattens (c, q) to c*CM + q, the dy channel
      for (let b = 0; b < n; b++) {
        for (let oy = oyLo; oy < oyHi; oy++) {
          const iy = oy * sh - top + ky;
          for (let ox = oxLo; ox < oxHi; ox++) {
            visit(((b * h + iy) * w + ox * sw - left + kx) * ci, ((b * outHeight + oy) * outWidth + ox) * co, wBase);
          }
        }
      }
    }
  }
}

/**
 * dW[ky, kx, c, q] = sum over (n, oy, ox) of x[n, iy, ix, c] * dy[n, oy, ox, c*CM + q]. Depthwise convs do
 * ~KH*KW multiply-adds per dy element, too few for a matMul to pay; a direct loop is enough.
 */
function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = depthwiseInfo('DepthwiseConv2dNativeBackpropFilter', x.shape, a.filterShape, a);
  const { inChannels: ci, outChannels: co, filterHeight: kh, filterWidth: kw } = info;
  const mult = co / ci;
  const xv = heap(wasm, x);
  const dyv = heap(wasm, dy);
  // Float64 sums: each weight gathers N*OH*OW terms.
  const sums = new Float64Array(kh * kw * co);
  forEachDepthwiseTap(info, (xOff, dyOff, wBase) => {
    for (let d = 0; d < co; d++) sums[wBase + d] += xv[xOff + Math.floor(d / mult)] * dyv[dyOff + d];
  });
  return wasm.makeOutput([...a.filterShape], 'float32', undefined, Float32Array.from(sums));
}

/**
 * dx[n, iy, ix, c] = sum over the taps (ky, kx) and multipliers q that read it of
 * dy[n, oy, ox, c*CM + q] * W[ky, kx, c, q].
 */
function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const info = depthwiseInfo('DepthwiseConv2dNativeBackpropInput', a.inputShape, filter.shape, a);
  const { inChannels: ci, outChannels: co } = info;
  const mult = co / ci;
  const out = wasm.makeOutput([...a.inputShape], 'float32');
  const dx = heap(wasm, out);
  const dyv = heap(wasm, dy);
  const fv = heap(wasm, filter);
  dx.fill(0);
  forEachDepthwiseTap(info, (xOff, dyOff, wBase) => {
    for (let d = 0; d < co; d++) dx[xOff + Math.floor(d / mult)] += dyv[dyOff + d] * fv[wBase + d];
  });
  return out;
}

/**
 * The output positions [lo, hi) along one axis whose filter tap `k` lands inside the input (0 <= o*stride
 * - pad + k < size), so loops over them need no bounds tests.
 */
function validOutputs(pad: number, k: number, stride: number, size: number, outSize: number): [number, number] {
  return [Math.max(0, Math.ceil((pad - k) / stride)), Math.min(outSize, Math.floor((size - 1 + pad - k) / stride) + 1)];
}

/**
 * out[s, ...] = sum of the rows x[i, ...] with segmentIds[i] = s; rows whose id falls outside
 * [0, numSegments) are dropped, as in TensorFlow. One pass over x, where the cpu kernel makes numSegments.
 */
function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  check(x.dtype === 'float32' || x.dtype === 'int32', `UnsortedSegmentSum on wasm supports float32 and int32 tensors, got ${x.dtype}`);
  const rowShape = x.shape.slice(segmentIds.shape.length);
  const row = rowShape.reduce((p, d) => p * d, 1);
  const out = wasm.makeOutput([numSegments, ...rowShape], x.dtype);
  const sums = wasm.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const xv = wasm.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = wasm.typedArrayFromHeap(segmentIds) as Int32Array;
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    for (let j = 0, to = s * row, from = i * row; j < row; j++) sums[to + j] += xv[from + j];
  }
  return out;
}

const warned = new Set<string>();

/**
 * A wasm kernelFunc that runs the cpu backend's `cpuKernel`: inputs are read off the wasm heap and written
 * into the cpu backend, outputs (one TensorInfo or an array) are copied back into wasm, and the cpu-side
 * data is freed. Inputs may be a name -> tensor map, an array (Einsum) or hold arrays (RaggedGather).
 */
function bridgeFromCpu(kernelName: string, cpuKernel: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    if (!warned.has(kernelName)) {
      warned.add(kernelName);
      console.warn(`tfjs-distill: the wasm backend lacks ${kernelName}; running the cpu backend's version (slower)`);
    }
    const wasm = backend as BackendWasm;
    const cpu = tf.engine().findBackend('cpu');
    check(cpu != null, `the wasm backend lacks ${kernelName} and the cpu backend, which would stand in, is not available`);

    const written: object[] = [];
    const toCpu = (t: tf.TensorInfo): tf.TensorInfo => {
      check(t.dtype !== 'complex64', `${kernelName} on wasm: complex64 tensors cannot be carried to the cpu backend`);
      const dataId = cpu.write(wasm.readSync(t.dataId), t.shape, t.dtype);
      written.push(dataId);
      return { dataId, shape: t.shape, dtype: t.dtype };
    };
    try {
      const cpuInputs = mapTensorInfos(inputs, toCpu) as tf.NamedTensorInfoMap;
      const result = cpuKernel({ inputs: cpuInputs, backend: cpu, attrs });
      const outputs = Array.isArray(result) ? result : [result];
      try {
        for (const out of outputs) {
          check(out.dtype !== 'complex64', `${kernelName} on wasm: a complex64 output cannot be carried back from the cpu backend`);
        }
        // The cpu backend's readSync already returns the typed array matching the dtype, as makeOutput needs.
        const copied = outputs.map((out) => wasm.makeOutput(out.shape, out.dtype, undefined, cpu.readSync(out.dataId)));
        return Array.isArray(result) ? copied : copied[0];
      } finally {
        for (const out of outputs) cpu.disposeData(out.dataId);
      }
    } finally {
      for (const dataId of written) cpu.disposeData(dataId);
    }
  };
}

/** `value` with every TensorInfo in it (at the top, in an array, or in a map) replaced by `f` of it. */
function mapTensorInfos(value: unknown, f: (t: tf.TensorInfo) => tf.TensorInfo): unknown {
  if (value == null) return value;
  if (Array.isArray(value)) return value.map((item) => mapTensorInfos(item, f));
  if (typeof value === 'object' && 'dataId' in value) return f(value as tf.TensorInfo);
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapTensorInfos(item, f)]));
  }
  return value;
}
