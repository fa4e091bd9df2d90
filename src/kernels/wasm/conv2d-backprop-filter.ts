/** Conv2DBackpropFilter for the wasm backend: im2col + the wasm BatchMatMul. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { check } from '../../errors.js';
import { convGradientInfo } from '../conv-geometry.js';
import { COL_BUDGET, heap, type KernelArgs, validOutputs, wasmKernel, zeros } from './heap-tensors.js';

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
export function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
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
