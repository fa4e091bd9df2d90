/** Equal of float32 tensors, broadcast by strides, in the addon's C loop (native/elementwise.c). */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { broadcastStrides } from '../broadcast-strides.js';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import { allFloat32, type Fallback } from './fallback.js';

/** The most axes the addon's loop takes (EQUAL_MAX_RANK in native/elementwise.h). */
const MAX_RANK = 8;

export function equalKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    // float32 against float32 (the gradient of a max over an axis); others go to the kernel this replaces.
    const wasm = args.backend as BackendWasm;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (!allFloat32(a, b) || outShape.length === 0 || outShape.length > MAX_RANK) return fallback('Equal', args);
    const out = wasm.makeOutput(outShape, 'bool');
    const geometry = Int32Array.of(
      outShape.length,
      ...outShape,
      ...broadcastStrides(a.shape, outShape),
      ...broadcastStrides(b.shape, outShape),
    );
    const outBytes = wasm.dataIdMap.get(out.dataId)!.memoryOffset;
    blas.equalBroadcast(heapBuffer(wasm), floatOffset(wasm, a), floatOffset(wasm, b), outBytes, geometry);
    return out;
  };
}
