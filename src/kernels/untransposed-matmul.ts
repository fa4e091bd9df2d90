/**
 * The pure-wasm matMul path, made fast for training. tfjs-backend-wasm's BatchMatMul and _FusedMatMul are
 * fast only with untransposed operands (then XNNPACK serves them); a transposed operand falls into a scalar
 * loop, about 10x slower ([256x1200] @ [1200x1200]^T: 2.5 GFLOP/s, against 20 with the transpose
 * materialised first). tfjs's matMul gradient is exactly such transposed matMuls (dA = dY @ B^T,
 * dB = A^T @ dY), so every model's backward pass hit that loop. These wrappers materialise each transposed
 * operand with the wasm Transpose kernel and call the kernel they wrap untransposed. They sit at the kernel
 * level, so every user model benefits, not just tfjs-distill's own layers.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** BatchMatMul and _FusedMatMul wrapping `replaced` (the wasm backend's own) and its Transpose kernel. */
export function untransposedMatMulKernels(
  replaced: Record<string, tf.KernelFunc>,
  transpose: tf.KernelFunc,
): Record<string, tf.KernelFunc> {
  const untransposed =
    (name: string): tf.KernelFunc =>
    (args: KernelArgs) => {
      const attrs = args.attrs as unknown as tf.BatchMatMulAttrs;
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if ((!attrs.transposeA && !attrs.transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') return replaced[name](args);
      const wasm = args.backend as BackendWasm;
      // Fresh tensors, freed right after: XNNPACK caches its packed B under B's tensor id, so a temporary B
      // takes its cache entry with it.
      const swapLast = (t: tf.TensorInfo) => {
        const perm = t.shape.map((_, i) => i);
        [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
        return transpose({ inputs: { x: t }, backend: wasm, attrs: { perm } }) as tf.TensorInfo;
      };
      const temporaries: tf.TensorInfo[] = [];
      const operand = (t: tf.TensorInfo, transposed: boolean) => {
        if (!transposed) return t;
        const swapped = swapLast(t);
        temporaries.push(swapped);
        return swapped;
      };
      try {
        return replaced[name]({
          ...args,
          inputs: { ...args.inputs, a: operand(a, attrs.transposeA), b: operand(b, attrs.transposeB) },
          attrs: { ...args.attrs, transposeA: false, transposeB: false },
        });
      } finally {
        for (const t of temporaries) wasm.disposeData(t.dataId);
      }
    };
  return { BatchMatMul: untransposed('BatchMatMul'), _FusedMatMul: untransposed('_FusedMatMul') };
}
