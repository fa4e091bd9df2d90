/**
 * Kernels the tfjs wasm backend lacks but training needs. Without them, the first gradient of a conv2d
 * on wasm dies with "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'".
 *
 * - Conv2DBackpropFilter gets a real implementation (im2col + the wasm BatchMatMul): the cpu backend's
 *   version runs at ~0.01 GFLOP/s, far too slow to fall back on. (Its sibling for Conv2DBackpropInput,
 *   conv2DBackpropInputViaMatMul, replaces a kernel wasm has, so kernel-choice.ts installs it.)
 * - The depthwise conv gradients and UnsortedSegmentSum (the gradient of gather) are plain JS loops on
 *   the wasm heap: their cpu versions are also slow enough to matter (the cpu UnsortedSegmentSum does
 *   numSegments passes over its input: ~5 s for the gradient of a 1000-row gather).
 * - replaceWasmKernels puts five of tfjs-distill's in place of the backend's own: Identity, and Transpose
 *   when only axes of size 1 move, share their input's data instead of copying it, MaxPoolGrad is a faster JS loop that breaks ties as the cpu
 *   backend does, and GatherV2 (an embedding's forward pass) and Equal (in the gradient of a max over an
 *   axis) are JS loops without the backend's per-element index vectors.
 * - Every other kernel the cpu backend has and wasm lacks is bridged: inputs are copied to the cpu
 *   backend, its kernel runs there, and the outputs are copied back.
 *
 * This reaches into tfjs-backend-wasm 4.22 internals (makeOutput, typedArrayFromHeap, disposeData, and
 * the kernelFuncs of its own kernels); the versions are pinned in package.json.
 */
import tf from '../tf.cjs';
import { conv2DBackpropFilter } from './wasm/conv2d-backprop-filter.js';
import { bridgeFromCpu, NOT_BRIDGED } from './wasm/cpu-bridge.js';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './wasm/depthwise-conv2d-backprop.js';
import { equalByStrides } from './wasm/equal.js';
import { gatherRows } from './wasm/gather.js';
import { WASM, wasmKernel, wasmKernelConfig } from './wasm/heap-tensors.js';
import { maxPoolGrad } from './wasm/max-pool-grad.js';
import { sharedIdentity } from './wasm/shared-identity.js';
import { sharedTranspose } from './wasm/shared-transpose.js';
import { unsortedSegmentSum } from './wasm/unsorted-segment-sum.js';

export { conv2DBackpropInputViaMatMul } from './wasm/conv2d-backprop-input.js';

/**
 * Registers, for the wasm backend, the kernels it lacks (see the module comment), and returns one short
 * description per kernel registered by this call. Idempotent: kernels already registered for wasm,
 * by an earlier call or by anyone else, are left alone, so a second call returns [].
 *
 * Call it after `import '@tensorflow/tfjs-backend-wasm'` (which registers the wasm kernels this builds on);
 * it may run before or after `tf.setBackend('wasm')`.
 */
export function registerMissingWasmKernels(): string[] {
  wasmKernel('BatchMatMul'); // fails early, with the fix, when the wasm backend was never imported
  const registered: string[] = [];
  const register = (kernelName: string, kernelFunc: tf.KernelFunc, description: string) => {
    if (tf.getKernel(kernelName, WASM) != null) return;
    tf.registerKernel({ kernelName, backendName: WASM, kernelFunc });
    registered.push(`${kernelName}: ${description}`);
  };

  register('Conv2DBackpropFilter', conv2DBackpropFilter, 'im2col + wasm matMul');
  register('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter, 'JS loops on the wasm heap');
  register('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput, 'JS loops on the wasm heap');
  register('UnsortedSegmentSum', unsortedSegmentSum, 'JS loop on the wasm heap');
  for (const { kernelName, kernelFunc } of tf.getKernelsForBackend('cpu')) {
    if (kernelName in NOT_BRIDGED) continue;
    register(kernelName, bridgeFromCpu(kernelName, kernelFunc), "cpu backend's kernel, data copied across");
  }
  return registered;
}

/**
 * Puts tfjs-distill's versions in place of five kernels the wasm backend has (see the module comment), and
 * returns one short description per kernel replaced by this call: [] when an earlier call replaced them.
 */
export function replaceWasmKernels(): string[] {
  const registered: string[] = [];
  const replace = (kernelName: string, make: (own: tf.KernelFunc) => tf.KernelFunc, description: string) => {
    const config = wasmKernelConfig(kernelName);
    if (replaced.has(config.kernelFunc)) return;
    const kernelFunc = make(config.kernelFunc);
    replaced.add(kernelFunc);
    tf.unregisterKernel(kernelName, WASM);
    tf.registerKernel({ ...config, kernelFunc });
    registered.push(`${kernelName}: ${description}`);
  };
  replace('Identity', sharedIdentity, "shares its input's data instead of copying it");
  replace('MaxPoolGrad', maxPoolGrad, 'JS loop on the wasm heap (faster, and breaks ties as the cpu backend does)');
  replace('GatherV2', gatherRows, 'JS loop copying whole rows on the wasm heap (faster)');
  replace('Equal', equalByStrides, 'JS loop on the wasm heap, broadcast by strides (faster)');
  replace('Transpose', sharedTranspose, "shares its input's data when only axes of size 1 move");
  return registered;
}

/** The kernelFuncs replaceWasmKernels put in place of the backend's own. */
const replaced = new Set<tf.KernelFunc>();
