/** Loading tfjs-distill's native addon and OpenBLAS, and the addon's contract. */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { messageOf } from '../errors.js';
import type { ExchangeLoops } from './exchange-loops.js';
import type { NativeTokenFront } from './token-front-loops.js';
import type { NativeDenseChain } from './dense-chain-loops.js';
import type { NativeTokenConv } from './token-conv-loops.js';

/** The addon's functions (see native/blas.c and native/exchange.c for their contracts). */
export interface NativeBlas extends ExchangeLoops, NativeTokenFront, NativeDenseChain, NativeTokenConv {
  load(): string;
  /** Sets OpenBLAS's thread count for the whole process (every thread's later calls); returns the count set. */
  setThreads(threads: number): number;
  gemm(
    heap: ArrayBuffer,
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    aOffsets: Int32Array,
    bOffsets: Int32Array,
    cOffset: number,
  ): void;
  epilogue(
    heap: ArrayBuffer,
    offset: number,
    count: number,
    biasOffset: number,
    biasSize: number,
    activation: number,
    alpha: number,
    preluOffset: number,
    preluSize: number,
  ): void;
  conv2d(
    heap: ArrayBuffer,
    mode: ConvMode,
    xOffset: number,
    filterOffset: number,
    yOffset: number,
    geometry: Int32Array,
    biasOffset: number,
    relu: boolean,
  ): void;
  biasAdd(heap: ArrayBuffer, xOffset: number, count: number, biasOffset: number, biasSize: number, outOffset: number): void;
  reluGrad(heap: ArrayBuffer, dyOffset: number, xOffset: number, count: number, outOffset: number): void;
  maxPool2x2(heap: ArrayBuffer, xOffset: number, yOffset: number, geometry: Int32Array): void;
  maxPoolGrad(heap: ArrayBuffer, xOffset: number, dyOffset: number, dxOffset: number, geometry: Int32Array): void;
  sumLeadingAxes(heap: ArrayBuffer, xOffset: number, outer: number, inner: number, outOffset: number): void;
  equalBroadcast(heap: ArrayBuffer, aOffset: number, bOffset: number, outByteOffset: number, geometry: Int32Array): void;
  gatherRows(
    heap: ArrayBuffer,
    tableOffset: number,
    idsOffset: number,
    count: number,
    row: number,
    tableRows: number,
    outOffset: number,
  ): void;
  segmentSumRows(
    heap: ArrayBuffer,
    xOffset: number,
    idsOffset: number,
    count: number,
    row: number,
    numSegments: number,
    outOffset: number,
  ): void;
}

/** The addon, built by `npm install` (native/build.mjs), relative to dist/kernels/. */
const ADDON = new URL('../../native/build/tfjs_distill_blas.node', import.meta.url);

/** OpenBLAS through the addon, or why it is unavailable, in one line. */
export type BlasLoad = { blas: NativeBlas; library: string } | { error: string };

let loaded: BlasLoad | undefined;

/** Loads the addon and OpenBLAS once per thread. */
export function loadBlas(): BlasLoad {
  if (loaded) return loaded;
  let blas: NativeBlas;
  try {
    blas = createRequire(import.meta.url)(fileURLToPath(ADDON)) as NativeBlas;
  } catch (error) {
    const why =
      (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND'
        ? "the addon is not built (run 'node native/build.mjs' in the tfjs-distill package to see why)"
        : messageOf(error);
    return (loaded = { error: `native kernels unavailable: ${why}` });
  }
  try {
    return (loaded = { blas, library: blas.load() });
  } catch (error) {
    return (loaded = { error: `OpenBLAS unavailable: ${messageOf(error)} (install libopenblas0 or libopenblas-dev)` });
  }
}

export enum ConvMode {
  Forward = 0,
  InputGrad = 1,
  FilterGrad = 2,
}
