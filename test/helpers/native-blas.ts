import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll } from 'vitest';
import { loadBlas } from '../../dist/kernels/blas-kernels.js';
import { selectWasmKernels } from '../../dist/kernels/kernel-choice.js';
import { registerMissingWasmKernels, replaceWasmKernels } from '../../dist/kernels/wasm-kernels.js';

/**
 * The native addon as loadBlas finds it. CI sets TFJS_DISTILL_REQUIRE_OPENBLAS: there a missing addon fails the
 * file at once, so tests that run only with it cannot skip unnoticed.
 */
export function requiredBlas(): ReturnType<typeof loadBlas> {
  const blas = loadBlas();
  if (!('blas' in blas) && process.env.TFJS_DISTILL_REQUIRE_OPENBLAS) {
    throw new Error(`TFJS_DISTILL_REQUIRE_OPENBLAS is set, but ${'error' in blas ? blas.error : ''}`);
  }
  return blas;
}

/** Runs the file's tests on the wasm backend with tfjs-distill's kernels registered, and selects 'auto' after. */
export function onWasmWithKernels(): void {
  beforeAll(async () => {
    registerMissingWasmKernels();
    replaceWasmKernels();
    await tf.setBackend('wasm');
  });
  afterAll(() => {
    selectWasmKernels('auto', tf.backend() as BackendWasm);
  });
}
