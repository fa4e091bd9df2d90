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
  const ids = wasm.typedArrayFromHeap(segmentIds) as Int32Array;
  // Each dtype in a loop of its own, so that each loop sees one kind of array (a loop over either is slower).
  if (x.dtype === 'float32')
    addRows(wasm.typedArrayFromHeap(out) as Float32Array, wasm.typedArrayFromHeap(x) as Float32Array, ids, row, numSegments);
  else addIntRows(wasm.typedArrayFromHeap(out) as Int32Array, wasm.typedArrayFromHeap(x) as Int32Array, ids, row, numSegments);
  return out;
}

function addRows(sums: Float32Array, xv: Float32Array, ids: Int32Array, row: number, numSegments: number): void {
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    for (let j = 0, to = s * row, from = i * row; j < row; j++) sums[to + j] += xv[from + j];
  }
}

function addIntRows(sums: Int32Array, xv: Int32Array, ids: Int32Array, row: number, numSegments: number): void {
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    for (let j = 0, to = s * row, from = i * row; j < row; j++) sums[to + j] = (sums[to + j] + xv[from + j]) | 0;
  }
}
