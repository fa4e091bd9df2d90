/** Cast to the tensor's own dtype without a copy. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { Fallback } from './fallback.js';

/**
 * A cast to the dtype the tensor has returns the same data, shared (as the wasm backend's Reshape does),
 * where the wasm backend's Cast copies it: every relu gradient casts its float32 mask to float32. Other
 * casts go to the wasm backend's kernel.
 */
export function castKernel(fallback: Fallback): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = args.attrs as unknown as tf.CastAttrs;
    if (dtype !== x.dtype) return fallback('Cast', args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype };
  };
}
