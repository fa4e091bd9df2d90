/** Identity for the wasm backend: shares its input's data instead of copying it. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Identity that shares its input's data, as the wasm Reshape does, where the wasm backend's own copies it.
 * tfjs clones every tensor a gradient saves (each layer's weights and inputs), so on a dense model those
 * copies were ~5% of a training step. Sharing is safe: tensors are immutable, and a Variable's assign
 * replaces its data rather than writing into it. Strings still go to the backend's own.
 */
export const sharedIdentity =
  (own: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    if (x.dtype === 'string') return own(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
