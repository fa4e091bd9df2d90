/** The bias and activation epilogue of the fused native kernels (_FusedMatMul, FusedConv2D). */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';

/** The activations tfjs fuses, numbered as tfjs-backend-wasm's FusableActivation and native/blas.c. */
export const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, prelu: 3, leakyrelu: 4, sigmoid: 5, elu: 6 };

/** Bias and activation applied to a fused kernel's output. */
export interface Epilogue {
  bias?: tf.TensorInfo;
  activation: number;
  alpha: number;
  prelu?: tf.TensorInfo;
}

/**
 * The epilogue of a fused kernel, or null when it is not one the native code applies: an activation
 * tfjs-backend-wasm does not fuse, or a bias / prelu weight that does not broadcast as a suffix of the
 * output shape (the native loop indexes them by element index modulo their size).
 */
export function fusedEpilogue(
  outShape: number[],
  attrs: { activation?: string; leakyreluAlpha?: number },
  bias: tf.TensorInfo | undefined,
  prelu: tf.TensorInfo | undefined,
): Epilogue | null {
  const activation = ACTIVATIONS[attrs.activation ?? 'linear'];
  if (activation === undefined) return null;
  if (bias && !isSuffix(bias.shape, outShape)) return null;
  if (activation === ACTIVATIONS.prelu && (!prelu || !isSuffix(prelu.shape, outShape))) return null;
  return { bias, activation, alpha: attrs.leakyreluAlpha ?? 0, prelu: activation === ACTIVATIONS.prelu ? prelu : undefined };
}

/** `shape`, without its leading 1s, equals the trailing dims of `of`. */
export function isSuffix(shape: number[], of: number[]): boolean {
  const core = shape.slice(shape.findIndex((d) => d !== 1) === -1 ? shape.length : shape.findIndex((d) => d !== 1));
  return core.length <= of.length && tf.util.arraysEqual(core, of.slice(of.length - core.length));
}

export function applyEpilogue(blas: NativeBlas, wasm: BackendWasm, out: tf.TensorInfo, e: Epilogue): void {
  const size = (t?: tf.TensorInfo) => (t ? tf.util.sizeFromShape(t.shape) : 0);
  const at = (t?: tf.TensorInfo) => (t ? floatOffset(wasm, t) : 0);
  blas.epilogue(heapBuffer(wasm), at(out), size(out), at(e.bias), size(e.bias), e.activation, e.alpha, at(e.prelu), size(e.prelu));
}
