/** Sum over leading axes in the addon's C loop (native/reductions.c). */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import { allFloat32, type Fallback } from './fallback.js';

export function sumKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    // Over leading axes only (every bias gradient); other reductions go to the wasm backend's Sum.
    const wasm = args.backend as BackendWasm;
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const k = axes.length;
    if (!allFloat32(x) || k === 0 || k === x.shape.length || !axes.every((a, i) => a === i)) return fallback('Sum', args);
    const inner = tf.util.sizeFromShape(x.shape.slice(k));
    const out = wasm.makeOutput(keepDims ? [...Array<number>(k).fill(1), ...x.shape.slice(k)] : x.shape.slice(k), 'float32');
    blas.sumLeadingAxes(heapBuffer(wasm), floatOffset(wasm, x), tf.util.sizeFromShape(x.shape.slice(0, k)), inner, floatOffset(wasm, out));
    return out;
  };
}
