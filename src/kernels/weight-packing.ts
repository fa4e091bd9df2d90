/**
 * Whether a model's weights may be rewritten in place on the wasm heap. The wasm backend's own matMul and
 * conv kernels (XNNPACK) keep packed copies of their weights, keyed by tensor, and would go on computing
 * with the old values; tfjs-distill's native kernels read the heap at every call. This module counts every
 * moment the stock kernels may have packed a tensor: each installation of a kernel set, and each call the
 * native set hands on to a stock kernel that packs its weights. A tensor made after the last such moment,
 * while the native set is installed, holds no packed copy anywhere.
 */

let nativeSetInstalled = false;
let packingMoments = 0;

/** The kernel set this thread's wasm backend now runs: the native one (true) or the stock one. */
export function noteKernelSet(native: boolean): void {
  nativeSetInstalled = native;
  packingMoments++;
}

/** A stock kernel that packs its weights (matMul, conv) just ran in this thread. */
export function noteStockWeightKernel(): void {
  packingMoments++;
}

/**
 * While the native set is installed, the count of moments the stock kernels may have packed a tensor so
 * far; undefined under the stock set, where none may be written in place.
 */
export function stockPackingMoments(): number | undefined {
  return nativeSetInstalled ? packingMoments : undefined;
}
