/** GatherV2 (the forward pass of an embedding) for the wasm backend: a JS loop copying rows on the wasm heap. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import type { KernelArgs } from './heap-tensors.js';

/**
 * out[b, o, i, :] = x[b, o, indices[b, i], :], the backend's own kernel's result and its error on an index
 * outside [0, x.shape[axis]). The backend's own computes every output element's source position with
 * per-element index vectors, which made an embedding's gather most of a text student's step; this copies
 * whole rows. Strings still go to the backend's own.
 */
export const gatherRows =
  (own: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const wasm = args.backend as BackendWasm;
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    if (x.dtype === 'string') return own(args);
    const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
    const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0];
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.Tensor, indices as tf.Tensor, parsedAxis, batchDims);
    const { batchSize, outerSize, dimSize, sliceSize, outputShape } = info;
    const out = wasm.makeOutput(outputShape, x.dtype);
    const ids = wasm.typedArrayFromHeap(indices) as Int32Array | Float32Array;
    for (let i = 0; i < ids.length; i++) {
      const index = ids[i];
      if (!(index <= dimSize - 1 && index >= 0)) {
        wasm.disposeData(out.dataId);
        tf.util.assert(false, () => `GatherV2: the index value ${index} is not in [0, ${dimSize - 1}]`);
      }
    }
    if (tf.util.sizeFromShape(x.shape) === 0) return out;
    // One view of the whole heap, taken after makeOutput (the last allocation: growing the heap detaches older
    // views), so the rows move by copyWithin on one array whatever the dtype (4-byte values as int32 bits).
    const bytes = x.dtype === 'bool' ? 1 : 4;
    const buffer = heapBuffer(wasm);
    const words = bytes === 4 ? new Int32Array(buffer) : new Uint8Array(buffer);
    const source = floatOffset(wasm, x) * (4 / bytes);
    let to = floatOffset(wasm, out) * (4 / bytes);
    const perBatch = ids.length / batchSize;
    for (let b = 0; b < batchSize; b++) {
      for (let o = 0; o < outerSize; o++) {
        const base = (b * outerSize + o) * dimSize;
        for (let i = b * perBatch, end = i + perBatch; i < end; i++) {
          const from = source + (base + ids[i]) * sliceSize;
          words.copyWithin(to, from, from + sliceSize);
          to += sliceSize;
        }
      }
    }
    return out;
  };
