/** The cpu bridge: any cpu backend kernel the wasm backend lacks, run on the cpu backend with its data copied across. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { check } from '../../errors.js';
import type { KernelArgs } from './heap-tensors.js';

/**
 * cpu kernels the bridge cannot carry, and why. The wasm backend cannot store complex64 (its heap holds
 * float32/int32/bool, and the cpu backend keeps complex values as a pair of hidden real/imag tensors),
 * so everything that takes or makes complex tensors stays unregistered; Draw paints on a DOM canvas.
 * String kernels (StaticRegexReplace) do bridge: both backends hold strings as arrays of UTF-8 bytes.
 */
export const NOT_BRIDGED: Record<string, string> = {
  Complex: 'makes complex64',
  ComplexAbs: 'takes complex64',
  FFT: 'takes complex64',
  IFFT: 'takes complex64',
  Imag: 'takes complex64',
  Real: 'takes complex64',
  Draw: 'draws on a browser canvas',
};

const warned = new Set<string>();

/**
 * A wasm kernelFunc that runs the cpu backend's `cpuKernel`: inputs are read off the wasm heap and written
 * into the cpu backend, outputs (one TensorInfo or an array) are copied back into wasm, and the cpu-side
 * data is freed. Inputs may be a name -> tensor map, an array (Einsum) or hold arrays (RaggedGather).
 */
export function bridgeFromCpu(kernelName: string, cpuKernel: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }: KernelArgs) => {
    if (!warned.has(kernelName)) {
      warned.add(kernelName);
      console.warn(`tfjs-distill: the wasm backend lacks ${kernelName}; running the cpu backend's version (slower)`);
    }
    const wasm = backend as BackendWasm;
    const cpu = tf.engine().findBackend('cpu');
    check(cpu != null, `the wasm backend lacks ${kernelName} and the cpu backend, which would stand in, is not available`);

    const written: object[] = [];
    const toCpu = (t: tf.TensorInfo): tf.TensorInfo => {
      check(t.dtype !== 'complex64', `${kernelName} on wasm: complex64 tensors cannot be carried to the cpu backend`);
      const dataId = cpu.write(wasm.readSync(t.dataId), t.shape, t.dtype);
      written.push(dataId);
      return { dataId, shape: t.shape, dtype: t.dtype };
    };
    try {
      const cpuInputs = mapTensorInfos(inputs, toCpu) as tf.NamedTensorInfoMap;
      const result = cpuKernel({ inputs: cpuInputs, backend: cpu, attrs });
      const outputs = Array.isArray(result) ? result : [result];
      try {
        for (const out of outputs) {
          check(out.dtype !== 'complex64', `${kernelName} on wasm: a complex64 output cannot be carried back from the cpu backend`);
        }
        // The cpu backend's readSync already returns the typed array matching the dtype, as makeOutput needs.
        const copied = outputs.map((out) => wasm.makeOutput(out.shape, out.dtype, undefined, cpu.readSync(out.dataId)));
        return Array.isArray(result) ? copied : copied[0];
      } finally {
        for (const out of outputs) cpu.disposeData(out.dataId);
      }
    } finally {
      for (const dataId of written) cpu.disposeData(dataId);
    }
  };
}

/** `value` with every TensorInfo in it (at the top, in an array, or in a map) replaced by `f` of it. */
function mapTensorInfos(value: unknown, f: (t: tf.TensorInfo) => tf.TensorInfo): unknown {
  if (value == null) return value;
  if (Array.isArray(value)) return value.map((item) => mapTensorInfos(item, f));
  if (typeof value === 'object' && 'dataId' in value) return f(value as tf.TensorInfo);
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapTensorInfos(item, f)]));
  }
  return value;
}
