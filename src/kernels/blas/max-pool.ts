/** MaxPool in the addon's C loop (native/reductions.c) for 2x2 windows of stride 2 that tile the input. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import { allFloat32, type Fallback } from './fallback.js';

/**
 * The usual CNN pool (2x2, stride 2, even sizes, no padding); every other pool goes to the wasm backend's
 * kernel. The addon's loop matches the cpu backend, and the max-pool gradient's choice of maximum.
 */
export function maxPoolKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    const wasm = args.backend as BackendWasm;
    const { x } = args.inputs as { x: tf.TensorInfo };
    const attrs = args.attrs as unknown as tf.MaxPoolAttrs;
    if (!allFloat32(x) || x.shape.length !== 4) return fallback('MaxPool', args);
    const info = tf.backend_util.computePool2DInfo(
      x.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const tiles =
      info.filterHeight === 2 &&
      info.filterWidth === 2 &&
      info.strideHeight === 2 &&
      info.strideWidth === 2 &&
      info.padInfo.top === 0 &&
      info.padInfo.left === 0 &&
      info.outHeight * 2 === info.inHeight &&
      info.outWidth * 2 === info.inWidth;
    if (!tiles) return fallback('MaxPool', args);
    const out = wasm.makeOutput([...info.outShape], 'float32');
    const geometry = Int32Array.of(info.batchSize, info.inHeight, info.inWidth, info.inChannels);
    blas.maxPool2x2(heapBuffer(wasm), floatOffset(wasm, x), floatOffset(wasm, out), geometry);
    return out;
  };
}
