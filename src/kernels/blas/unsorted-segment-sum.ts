/** UnsortedSegmentSum (the gradient of gather: an embedding's gradient) in the addon's C loop (native/embedding.c). */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import { allFloat32, type Fallback } from './fallback.js';

export function unsortedSegmentSumKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    // float32 rows by int32 ids; others go to the kernel this replaces (the JS loop on the heap).
    const wasm = args.backend as BackendWasm;
    const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
    if (!allFloat32(x) || segmentIds.dtype !== 'int32') return fallback('UnsortedSegmentSum', args);
    const rowShape = x.shape.slice(segmentIds.shape.length);
    const row = tf.util.sizeFromShape(rowShape);
    const count = tf.util.sizeFromShape(segmentIds.shape);
    const out = wasm.makeOutput([numSegments, ...rowShape], 'float32');
    if (numSegments * row === 0) return out;
    blas.segmentSumRows(
      heapBuffer(wasm),
      floatOffset(wasm, x),
      floatOffset(wasm, segmentIds),
      count,
      row,
      numSegments,
      floatOffset(wasm, out),
    );
    return out;
  };
}
