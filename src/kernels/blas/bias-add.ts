/** Add in the addon's loop (native/elementwise.c) when one operand is a bias along the other's trailing axes. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';
import { isSuffix } from './epilogue.js';
import { allFloat32, type Fallback } from './fallback.js';

/**
 * x + bias where the bias (leading 1s aside) is a proper suffix of x's shape and no longer in rank: every
 * layer's bias while training (tfjs fuses it into the layer only outside gradients). Every other Add goes
 * to the wasm backend's kernel, which handles equal shapes as fast and general broadcasting.
 */
export function biasAddKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    const wasm = args.backend as BackendWasm;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (!allFloat32(a, b)) return fallback('Add', args);
    const [x, bias] = tf.util.sizeFromShape(a.shape) >= tf.util.sizeFromShape(b.shape) ? [a, b] : [b, a];
    const [count, size] = [tf.util.sizeFromShape(x.shape), tf.util.sizeFromShape(bias.shape)];
    if (size === count || size === 0 || bias.shape.length > x.shape.length || !isSuffix(bias.shape, x.shape)) return fallback('Add', args);
    const out = wasm.makeOutput([...x.shape], 'float32');
    blas.biasAdd(heapBuffer(wasm), floatOffset(wasm, x), count, floatOffset(wasm, bias), size, floatOffset(wasm, out));
    return out;
  };
}
