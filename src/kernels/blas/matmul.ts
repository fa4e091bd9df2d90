/** BatchMatMul and _FusedMatMul in OpenBLAS sgemm, with operands broadcast over their batch dims. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { check } from '../../errors.js';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import { applyEpilogue, type Epilogue, fusedEpilogue } from './epilogue.js';
import { allFloat32, type Fallback, type KernelArgs } from './fallback.js';

export function batchMatMulKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (!allFloat32(a, b)) return fallback('BatchMatMul', args);
    return matMul(blas, args);
  };
}

export function fusedMatMulKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const attrs = args.attrs as unknown as tf._FusedMatMulAttrs;
    if (!allFloat32(a, b, bias, preluActivationWeights)) return fallback('_FusedMatMul', args);
    const g = matMulGeometry(a!.shape, b!.shape, attrs.transposeA, attrs.transposeB);
    const epilogue = fusedEpilogue(g.outShape, attrs, bias, preluActivationWeights);
    if (epilogue === null) return fallback('_FusedMatMul', args);
    return matMul(blas, args, epilogue);
  };
}

function matMul(blas: NativeBlas, args: KernelArgs, epilogue?: Epilogue): tf.TensorInfo {
  const wasm = args.backend as BackendWasm;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const g = matMulGeometry(a.shape, b.shape, transposeA, transposeB);
  const out = wasm.makeOutput(g.outShape, 'float32');
  const [aAt, bAt, outAt] = [floatOffset(wasm, a), floatOffset(wasm, b), floatOffset(wasm, out)];
  const heap = heapBuffer(wasm);
  const aOffsets = g.aBatch.map((i) => aAt + i * g.m * g.k);
  const bOffsets = g.bBatch.map((i) => bAt + i * g.k * g.n);
  blas.gemm(heap, transposeA, transposeB, g.m, g.n, g.k, aOffsets, bOffsets, outAt);
  if (epilogue) applyEpilogue(blas, wasm, out, epilogue);
  return out;
}

/** A matMul's sizes, output shape and, per output batch, the batch of A and of B it reads (broadcast). */
interface MatMulGeometry {
  m: number;
  n: number;
  k: number;
  outShape: number[];
  aBatch: Int32Array;
  bBatch: Int32Array;
}

function matMulGeometry(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulGeometry {
  const [ar, br] = [aShape.length, bShape.length];
  const m = transposeA ? aShape[ar - 1] : aShape[ar - 2];
  const k = transposeA ? aShape[ar - 2] : aShape[ar - 1];
  const kB = transposeB ? bShape[br - 1] : bShape[br - 2];
  const n = transposeB ? bShape[br - 2] : bShape[br - 1];
  check(
    k === kB,
    () =>
      `Error in matMul: inner shapes (${k}) and (${kB}) of Tensors with shapes ${aShape} and ${bShape} and ` +
      `transposeA=${transposeA} and transposeB=${transposeB} must match.`,
  );
  const aOuter = aShape.slice(0, -2);
  const bOuter = bShape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const batches = outer.reduce((p, d) => p * d, 1);
  const aBatch = new Int32Array(batches);
  const bBatch = new Int32Array(batches);
  const aStrides = broadcastStrides(aOuter, outer.length);
  const bStrides = broadcastStrides(bOuter, outer.length);
  for (let i = 0; i < batches; i++) {
    // Output batch i's coordinates, last dim fastest; each operand steps only along its non-1 dims.
    let rest = i;
    for (let d = outer.length - 1; d >= 0; d--) {
      const coord = rest % outer[d];
      rest = (rest - coord) / outer[d];
      aBatch[i] += coord * aStrides[d];
      bBatch[i] += coord * bStrides[d];
    }
  }
  return { m, n, k, outShape: [...outer, m, n], aBatch, bBatch };
}

/** Row-major strides of `shape` right-aligned to `rank` dims, 0 where it broadcasts (size 1 or absent). */
function broadcastStrides(shape: number[], rank: number): number[] {
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let d = shape.length - 1, o = rank - 1; d >= 0; d--, o--) {
    strides[o] = shape[d] === 1 ? 0 : stride;
    stride *= shape[d];
  }
  return strides;
}
