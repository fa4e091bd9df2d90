/** DepthwiseConv2dNativeBackpropFilter and DepthwiseConv2dNativeBackpropInput for the wasm backend: JS loops on the wasm heap. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { check } from '../../errors.js';
import { heap, type KernelArgs, validOutputs } from './heap-tensors.js';

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
export function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
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
export function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
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
