/** GatherV2 of whole rows (an embedding's forward pass) in the addon's C loop (native/embedding.c). */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import type { Fallback } from './fallback.js';

export function gatherKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    // Rows of a 4-byte table by int32 ids along its first axis, as an embedding gathers; every other
    // gather (and an id out of range, for its error) goes to the kernel this replaces.
    const wasm = args.backend as BackendWasm;
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
    const fourBytes = x.dtype === 'float32' || x.dtype === 'int32';
    if (
      !fourBytes ||
      indices.dtype !== 'int32' ||
      batchDims !== 0 ||
      tf.util.parseAxisParam(axis, x.shape)[0] !== 0 ||
      x.shape.length === 0
    )
      return fallback('GatherV2', args);
    const tableRows = x.shape[0];
    const ids = wasm.typedArrayFromHeap(indices) as Int32Array;
    for (let i = 0; i < ids.length; i++) if (!(ids[i] >= 0 && ids[i] < tableRows)) return fallback('GatherV2', args);
    const row = tf.util.sizeFromShape(x.shape.slice(1));
    const out = wasm.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    if (ids.length * row === 0) return out;
    blas.gatherRows(heapBuffer(wasm), floatOffset(wasm, x), floatOffset(wasm, indices), ids.length, row, tableRows, floatOffset(wasm, out));
    return out;
  };
}
