/** The addon's conv2d call that the native Conv2D, FusedConv2D and both conv gradients share. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ConvMode, NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';

/** A forward conv's bias (one value per output channel) and relu, which the addon applies chunk by chunk. */
export interface ConvBiasRelu {
  bias?: tf.TensorInfo;
  relu: boolean;
}

/** The addon's conv2d on tensors in place on the wasm heap; `mode` says which of x, filter and y it writes. */
export function nativeConv(
  blas: NativeBlas,
  mode: ConvMode,
  wasm: BackendWasm,
  info: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  y: tf.TensorInfo,
  fused: ConvBiasRelu = { relu: false },
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
  const bias = fused.bias ? floatOffset(wasm, fused.bias) : -1;
  blas.conv2d(heapBuffer(wasm), mode, floatOffset(wasm, x), floatOffset(wasm, filter), floatOffset(wasm, y), geometry, bias, fused.relu);
}
