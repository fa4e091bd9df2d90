/**
 * The wasm backend's matMul and conv kernels, computed by OpenBLAS through tfjs-distill's native addon
 * (native/blas.c), and its 2x2 max pool, max-pool gradient, bias-gradient sums (native/reductions.c),
 * bias add and a broadcasting Equal (native/elementwise.c) and an embedding's gather and gradient (native/embedding.c) in plain C, in place on the wasm heap: outputs come from `makeOutput`,
 * operands are read where they lie (and a Cast to the same dtype shares its input's data). The wasm backend's own matMul is fast only untransposed (XNNPACK), and every dense layer's gradient
 * uses transposed ones; sgemm serves every case at full speed. Conv gradients are im2col + sgemm.
 *
 * What a kernel here does not cover (NCHW data, non-float32 tensors, a bias that does not broadcast as a
 * suffix of the output, an activation tfjs-backend-wasm does not fuse) goes to the kernel it replaces.
 */
import type * as tf from '@tensorflow/tfjs';
import type { NativeBlas } from './blas-loader.js';
import { conv2DKernel, fusedConv2DKernel } from './blas/conv2d.js';
import { conv2DBackpropFilterKernel } from './blas/conv2d-backprop-filter.js';
import { conv2DBackpropInputKernel } from './blas/conv2d-backprop-input.js';
import type { Fallback } from './blas/fallback.js';
import { batchMatMulKernel, fusedMatMulKernel } from './blas/matmul.js';
import { biasAddKernel } from './blas/bias-add.js';
import { castKernel } from './blas/cast.js';
import { equalKernel } from './blas/equal.js';
import { gatherKernel } from './blas/gather.js';
import { maxPoolKernel } from './blas/max-pool.js';
import { maxPoolGradKernel } from './blas/max-pool-grad.js';
import { sumKernel } from './blas/sum.js';
import { unsortedSegmentSumKernel } from './blas/unsorted-segment-sum.js';
import { noteStockWeightKernel } from './weight-packing.js';

export { type BlasLoad, loadBlas } from './blas-loader.js';

/** The stock kernels replaced here that keep packed copies of their weights (weight-packing.ts). */
const PACKS_WEIGHTS = new Set(['BatchMatMul', '_FusedMatMul', 'Conv2D', 'FusedConv2D', 'Conv2DBackpropInput']);

/**
 * The kernelFuncs, by kernel name, that replace `replaced` (the kernels registered before: the wasm
 * backend's own, and tfjs-distill's JS Conv2DBackpropFilter), which they fall back on.
 */
export function blasKernels(blas: NativeBlas, replaced: Record<string, tf.KernelFunc>): Record<string, tf.KernelFunc> {
  const fallback: Fallback = (name, args) => {
    if (PACKS_WEIGHTS.has(name)) noteStockWeightKernel();
    return replaced[name](args);
  };
  return {
    MaxPool: maxPoolKernel(blas, fallback),
    MaxPoolGrad: maxPoolGradKernel(blas, fallback),
    Cast: castKernel(fallback),
    Add: biasAddKernel(blas, fallback),
    Sum: sumKernel(blas, fallback),
    GatherV2: gatherKernel(blas, fallback),
    Equal: equalKernel(blas, fallback),
    UnsortedSegmentSum: unsortedSegmentSumKernel(blas, fallback),
    BatchMatMul: batchMatMulKernel(blas, fallback),
    _FusedMatMul: fusedMatMulKernel(blas, fallback),
    Conv2D: conv2DKernel(blas, fallback),
    FusedConv2D: fusedConv2DKernel(blas, fallback),
    Conv2DBackpropInput: conv2DBackpropInputKernel(blas, fallback),
    Conv2DBackpropFilter: conv2DBackpropFilterKernel(blas, fallback),
  };
}
