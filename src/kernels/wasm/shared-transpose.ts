/** Transpose for the wasm backend: shares its input's data when the permutation moves only axes of size 1. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * A Transpose whose permutation keeps every axis longer than 1 in its order leaves the data as it lies; the
 * backend's own copies it then (tfjs's gather gradient transposes the whole embedding gradient so, and a
 * batched dot of a column). This shares the data instead, as the shared Identity does (tensors are
 * immutable); every other permutation, and strings, go to the backend's own.
 */
export const sharedTranspose =
  (own: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    const { perm } = args.attrs as unknown as tf.TransposeAttrs;
    if (x.dtype === 'string') return own(args);
    let last = -1;
    for (const axis of perm) {
      if (x.shape[axis] === 1) continue;
      if (axis < last) return own(args);
      last = axis;
    }
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: perm.map((axis) => x.shape[axis]), dtype: x.dtype };
  };
