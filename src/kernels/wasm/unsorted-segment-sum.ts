/** UnsortedSegmentSum (the gradient of gather) for the wasm backend: a JS loop on the wasm heap. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { check } from '../../errors.js';
import type { KernelArgs } from './heap-tensors.js';

/**
 * out[s, ...] = sum of the rows x[i, ...] with segmentIds[i] = s; rows whose id falls outside
 * [0, numSegments) are dropped, as in TensorFlow. One pass over x, where the cpu kernel makes numSegments.
 */
export function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  check(x.dtype === 'float32' || x.dtype === 'int32', `UnsortedSegmentSum on wasm supports float32 and int32 tensors, got ${x.dtype}`);
  const rowShape = x.shape.slice(segmentIds.shape.length);
  const row = rowShape.reduce((p, d) => p * d, 1);
  const out = wasm.makeOutput([numSegments, ...rowShape], x.dtype);
  const sums = wasm.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const xv = wasm.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = wasm.typedArrayFromHeap(segmentIds) as Int32Array;
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    for (let j = 0, to = s * row, from = i * row; j < row; j++) sums[to + j] += xv[from + j];
  }
  return out;
}
