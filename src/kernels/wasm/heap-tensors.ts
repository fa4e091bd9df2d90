/** Helpers the wasm-heap kernels share: tensors on the wasm heap, and the backend's own kernels they build on. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DistillError } from '../../errors.js';

export const WASM = 'wasm';

/**
 * Most elements of the im2col matrix held at once (64 MB of float32). Larger batches are processed in
 * chunks of whole images and their partial gradients summed, so the wasm heap stays small.
 */
export const COL_BUDGET = 1 << 24;

export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** The kernelFunc the wasm backend registered for `name`. */
export function wasmKernel(name: string): tf.KernelFunc {
  return wasmKernelConfig(name).kernelFunc;
}

/** The config the wasm backend registered for `name` (or a replacement of it). */
export function wasmKernelConfig(name: string): tf.KernelConfig {
  const config = tf.getKernel(name, WASM);
  if (config == null) {
    throw new DistillError(
      `the wasm backend has no ${name} kernel: import '@tensorflow/tfjs-backend-wasm' before calling registerMissingWasmKernels()`,
    );
  }
  return config;
}

/**
 * A float32 view of a tensor on the wasm heap. Take it only after the last allocation: growing the heap
 * detaches old views.
 */
export function heap(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** A float32 tensor of zeros on the wasm heap. */
export function zeros(backend: BackendWasm, shape: number[]): tf.TensorInfo {
  const out = backend.makeOutput([...shape], 'float32');
  heap(backend, out).fill(0);
  return out;
}

/**
 * The output positions [lo, hi) along one axis whose filter tap `k` lands inside the input (0 <= o*stride
 * - pad + k < size), so loops over them need no bounds tests.
 */
export function validOutputs(pad: number, k: number, stride: number, size: number, outSize: number): [number, number] {
  return [Math.max(0, Math.ceil((pad - k) / stride)), Math.min(outSize, Math.floor((size - 1 + pad - k) / stride) + 1)];
}
