/**
 * ReLU's gradient in one native pass (native/activation-grad.c). tfjs's Relu gradient is dy * cast(step(x)):
 * a Step pass and a Multiply pass over every ReLU activation, in every training step. While the openblas
 * kernels are selected, the Relu gradient runs this kernel instead, which computes the same product.
 */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeBlas } from '../blas-loader.js';
import { floatOffset, heapBuffer } from '../wasm-heap.js';

/** The kernel the Relu gradient runs on the wasm backend while the openblas kernels are selected. */
export const RELU_GRAD = 'TfjsDistillReluGrad';

/** The kernel: inputs dy and x, float32 and of one shape; output dy * step(x). */
export function reluGradKernel(blas: NativeBlas): tf.KernelConfig {
  return {
    kernelName: RELU_GRAD,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const wasm = backend as BackendWasm;
      const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
      const out = wasm.makeOutput([...x.shape], 'float32');
      blas.reluGrad(heapBuffer(wasm), floatOffset(wasm, dy), floatOffset(wasm, x), tf.util.sizeFromShape(x.shape), floatOffset(wasm, out));
      return out;
    },
  };
}

/**
 * tfjs's Relu gradient config with its gradient computed by {@link RELU_GRAD} where that kernel applies
 * (the wasm backend, float32 tensors of one shape), and by tfjs's own `original` gradient elsewhere.
 */
export function nativeReluGradient(original: tf.GradConfig): tf.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const gradient = dy as tf.Tensor;
      if (
        tf.getBackend() !== 'wasm' ||
        x.dtype !== 'float32' ||
        gradient.dtype !== 'float32' ||
        !tf.util.arraysEqual(x.shape, gradient.shape)
      )
        return original.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: gradient, x }) as tf.Tensor };
    },
  };
}
