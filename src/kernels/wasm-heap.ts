/**
 * Where a tensor of the tfjs wasm backend lives: its heap and the offset of its data in it. Kernels that
 * compute in place (native/blas.c) need exactly this. None of it is public tfjs API: it is tfjs-backend-wasm
 * 4.22's `wasm.HEAPU8`, `dataIdMap` and `makeOutput` (versions pinned in package.json), and
 * {@link checkWasmInternals} says what changed if an upgrade moves them.
 */
import tf from '../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DistillError } from '../errors.js';

/** The wasm heap. Take it after the last allocation of a kernel: growing the heap replaces the buffer. */
export function heapBuffer(backend: BackendWasm): ArrayBuffer {
  return heapBytes(backend).buffer as ArrayBuffer;
}

/** The Emscripten module's HEAPU8 (present at run time, absent from tfjs's typings). */
const heapBytes = (backend: BackendWasm) => (backend.wasm as unknown as { HEAPU8: Uint8Array } | undefined)?.HEAPU8 as Uint8Array;

/** The float index of `t`'s data in the heap. */
export function floatOffset(backend: BackendWasm, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset / Float32Array.BYTES_PER_ELEMENT;
}

/**
 * Checks, on the live wasm backend, every internal the in-place kernels rely on, and throws a DistillError
 * naming the first one that changed. A tensor is written through public API and read back through the
 * internals, and an output made by `makeOutput` is filled through them and read back through public API.
 */
export function checkWasmInternals(backend: BackendWasm): void {
  const fail = (what: string): never => {
    throw new DistillError(
      `tfjs-backend-wasm internals changed (${what}): tfjs-distill's native kernels were written for ` +
        `tfjs 4.22.0 (this is tfjs-core ${tf.version_core}); pin 4.22.0 or set kernels 'wasm'`,
      ['kernels'],
    );
  };
  if (typeof backend.makeOutput !== 'function') fail('BackendWasm.makeOutput is not a function');
  if (typeof backend.dataIdMap?.get !== 'function') fail('BackendWasm.dataIdMap has no get()');
  if (!(heapBytes(backend)?.buffer instanceof ArrayBuffer)) fail('BackendWasm.wasm.HEAPU8.buffer is not an ArrayBuffer');
  const probe = Float32Array.of(1.5, -2.25, 3.125);
  const dataId = backend.write(probe, [3], 'float32');
  try {
    const offset = backend.dataIdMap.get(dataId)?.memoryOffset;
    if (typeof offset !== 'number' || offset % 4 !== 0) fail('dataIdMap entries have no float-aligned memoryOffset');
    const seen = new Float32Array(heapBuffer(backend), offset, 3);
    if (!probe.every((v, i) => seen[i] === v)) fail("a tensor's data is not at its memoryOffset in HEAPU8");
  } finally {
    backend.disposeData(dataId);
  }
  const out = backend.makeOutput([2], 'float32');
  try {
    if (!tf.util.arraysEqual(out.shape, [2]) || out.dtype !== 'float32') fail('makeOutput(shape, dtype) returns another TensorInfo');
    new Float32Array(heapBuffer(backend), floatOffset(backend, out) * 4, 2).set([7, 8]);
    const back = backend.readSync(out.dataId) as Float32Array;
    if (back[0] !== 7 || back[1] !== 8) fail("makeOutput's memoryOffset is not where readSync reads");
  } finally {
    backend.disposeData(out.dataId);
  }
}

/** The live wasm backend, or undefined when another backend runs. */
function activeWasmBackend(): BackendWasm | undefined {
  return tf.getBackend() === 'wasm' ? (tf.backend() as BackendWasm) : undefined;
}

/**
 * A float32 tensor's values: on wasm a view of the heap where they lie (valid until the heap grows or the
 * tensor is disposed), elsewhere `dataSync()`'s array. Reading the heap in place saves a copy: `dataSync()`
 * makes a fresh array, which costs several times a copy on a large gradient.
 */
export function tensorValues(t: tf.Tensor): Float32Array {
  const backend = activeWasmBackend();
  if (backend === undefined || t.dtype !== 'float32') return t.dataSync() as Float32Array;
  return new Float32Array(heapBuffer(backend), floatOffset(backend, t) * 4, t.size);
}

/** Copies a float32 tensor's values into `target` at `offset` (one copy on wasm: see {@link tensorValues}). */
export function copyTensorInto(t: tf.Tensor, target: Float32Array, offset: number): void {
  target.set(tensorValues(t), offset);
}

/**
 * A float32 tensor's values: on wasm a view of the heap, valid until the next tensor is made (which can grow
 * the heap) or the tensor is disposed; elsewhere `dataSync()`.
 */
export function float32Values(t: tf.Tensor): Float32Array {
  const backend = activeWasmBackend();
  if (backend === undefined || t.dtype !== 'float32') return t.dataSync() as Float32Array;
  return new Float32Array(heapBuffer(backend), floatOffset(backend, t) * 4, t.size);
}
