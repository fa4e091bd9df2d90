/** MaxPoolGrad in the addon's C loop (native/reductions.c). */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeBlas } from '../blas-loader.js';
import { maxPoolGradInfo } from '../conv-geometry.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import { allFloat32, type Fallback } from './fallback.js';

export function maxPoolGradKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
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
  };
}
