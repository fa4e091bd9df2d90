/**
 * Which matMul, conv, max-pool, Sum, Add and Cast kernels (and Relu gradient) the wasm backend runs:
 * - `openblas`: tfjs-distill's native addon (OpenBLAS sgemm, im2col for convs, C pools, reductions and
 *   bias add, a copy-free same-dtype Cast, ReLU's gradient in one pass) on the wasm heap (src/kernels/blas/), and the addon's loops for the gradient exchange and the
 *   optimizer (src/kernels/exchange-loops.ts);
 * - `wasm`: the wasm backend's own, with transposed matMuls materialised first so they stay on XNNPACK
 *   (src/kernels/untransposed-matmul.ts), and tfjs-distill's conv gradients built on its matMul and JS
 *   max-pool gradient (src/kernels/wasm/);
 * - `auto`: openblas where the addon and OpenBLAS load, else wasm with a notice.
 */
import tf from '../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DistillError, messageOf } from '../errors.js';
import { useExchangeLoops } from './exchange-loops.js';
import { noteKernelSet } from './weight-packing.js';
import { nativeTokenFrontLoops, useTokenFrontLoops } from './token-front-loops.js';
import { nativeDenseChainLoops, useDenseChainLoops } from './dense-chain-loops.js';
import { nativeTokenConvStudentLoops, useTokenConvLoops } from './token-conv-loops.js';
import { blasKernels, loadBlas } from './blas-kernels.js';
import { nativeReluGradient, reluGradKernel, RELU_GRAD } from './blas/relu-grad.js';
import { untransposedMatMulKernels } from './untransposed-matmul.js';
import { useJavascriptLoops } from './thread-loops.js';
import { checkWasmInternals } from './wasm-heap.js';
import { conv2DBackpropInputViaMatMul } from './wasm-kernels.js';

/** The wasm backend's matMul and conv kernels: `openblas` (the native addon), `wasm` (the backend's own), or `auto`. */
export type KernelChoice = 'auto' | 'openblas' | 'wasm';

export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'openblas', 'wasm'];

/** The environment variable that sets the kernels when no option does. */
export const KERNELS_ENV = 'TFJS_DISTILL_KERNELS';

/** TFJS_DISTILL_KERNELS, checked; undefined when unset or empty. */
export function kernelChoiceFromEnv(): KernelChoice | undefined {
  const value = process.env[KERNELS_ENV];
  if (value === undefined || value === '') return undefined;
  if (!KERNEL_CHOICES.includes(value as KernelChoice)) {
    throw new DistillError(`${KERNELS_ENV}=${value} is not a kernel choice: use one of ${KERNEL_CHOICES.join(', ')}`);
  }
  return value as KernelChoice;
}

/** The kernels this module swaps, in the order they are registered. */
const MANAGED = [
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'MaxPool',
  'MaxPoolGrad',
  'Sum',
  'Cast',
  'Add',
  'GatherV2',
  'UnsortedSegmentSum',
  'Equal',
];

/** The configs registered for wasm before the first selection: the ones `wasm` keeps and `openblas` falls back on. */
let original: Map<string, tf.KernelConfig> | undefined;

/** tfjs's own Relu gradient, which the wasm set keeps and openblas replaces (see blas/relu-grad.ts). */
let originalReluGradient: tf.GradConfig | undefined;

/** The wasm set's kernelFuncs, made once. */
let wasmSet: Record<string, tf.KernelFunc> | undefined;

/** What {@link selectWasmKernels} set up. */
export interface KernelSelection {
  kernels: 'openblas' | 'wasm';
  /** One line for the report: the library openblas uses, or why `auto` fell back to wasm; absent for wasm asked for. */
  notice?: string;
}

/**
 * Registers the chosen kernels for the wasm backend, replacing whichever set a previous call registered.
 * Call it after registerMissingWasmKernels() and replaceWasmKernels() (their Conv2DBackpropFilter and
 * MaxPoolGrad are the wasm set's) and once `backend`
 * is live (the in-place kernels are checked against it). `openblas` that cannot load throws a DistillError.
 * `blasThreads` is OpenBLAS's thread count, set for the whole process (OpenBLAS keeps one): the pool passes
 * more than 1 only when it has a single worker.
 */
export function selectWasmKernels(choice: KernelChoice, backend: BackendWasm, blasThreads = 1): KernelSelection {
  original ??= new Map(
    MANAGED.map((name) => {
      const config = tf.getKernel(name, 'wasm');
      if (config == null)
        throw new DistillError(
          `the wasm backend has no ${name} kernel: import '@tensorflow/tfjs-backend-wasm' and call registerMissingWasmKernels() first`,
        );
      return [name, config];
    }),
  );
  originalReluGradient ??= tf.getGradient('Relu')!;
  const replaced = Object.fromEntries([...original].map(([name, config]) => [name, config.kernelFunc]));
  let notice: string | undefined;
  if (choice !== 'wasm') {
    const load = loadBlas();
    let reason = 'error' in load ? load.error : undefined;
    if (reason === undefined) {
      try {
        checkWasmInternals(backend);
      } catch (error) {
        reason = messageOf(error);
      }
    }
    if (reason === undefined && 'blas' in load) {
      install(blasKernels(load.blas, replaced));
      noteKernelSet(true);
      if (tf.getKernel(RELU_GRAD, 'wasm')) tf.unregisterKernel(RELU_GRAD, 'wasm');
      tf.registerKernel(reluGradKernel(load.blas));
      tf.registerGradient(nativeReluGradient(originalReluGradient!));
      useExchangeLoops(load.blas);
      useTokenFrontLoops(nativeTokenFrontLoops(load.blas));
      useDenseChainLoops(nativeDenseChainLoops(load.blas));
      useTokenConvLoops(nativeTokenConvStudentLoops(load.blas));
      // Set every time: an earlier pool in this process may have left another count.
      const threads = load.blas.setThreads(blasThreads);
      return {
        kernels: 'openblas',
        notice:
          `wasm backend: ${MANAGED.filter((name) => name !== 'Cast').join(', ')} and the Relu gradient run in tfjs-distill's native addon, ` +
          `on OpenBLAS (${load.library}, ${threads} thread${threads === 1 ? '' : 's'} per worker)`,
      };
    }
    if (choice === 'openblas')
      throw new DistillError(`kernels 'openblas' requested, but ${reason}; set kernels 'auto' or 'wasm' (or ${KERNELS_ENV})`, ['kernels']);
    notice = `wasm backend: ${reason}; using the wasm kernels`;
  }
  wasmSet ??= {
    ...replaced,
    ...untransposedMatMulKernels(replaced, tf.getKernel('Transpose', 'wasm')!.kernelFunc),
    Conv2DBackpropInput: conv2DBackpropInputViaMatMul(replaced.Conv2DBackpropInput),
  };
  install(wasmSet);
  noteKernelSet(false);
  tf.registerGradient(originalReluGradient!);
  useJavascriptLoops();
  return { kernels: 'wasm', notice };
}

/** Registers `kernelFuncs` for wasm, keeping each original's setup and dispose hooks. */
function install(kernelFuncs: Record<string, tf.KernelFunc>): void {
  for (const name of MANAGED) {
    const config = original!.get(name)!;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...config, kernelFunc: kernelFuncs[name] });
  }
}
