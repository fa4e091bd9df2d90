/** Conv2DBackpropInput in the addon: dx from dy and the filter. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ConvMode, type NativeBlas } from '../blas-loader.js';
import { convGradientInfo } from '../conv-geometry.js';
import { allFloat32, type Fallback } from './fallback.js';
import { nativeConv } from './native-conv.js';

/** dx from dy and the filter: the output takes the place of x, the input it is the gradient of. */
export function conv2DBackpropInputKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    const name = 'Conv2DBackpropInput';
    const wasm = args.backend as BackendWasm;
    const { dy, filter } = args.inputs as Record<string, tf.TensorInfo>;
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (attrs.dataFormat === 'NCHW' || !allFloat32(dy, filter)) return fallback(name, args) as tf.TensorInfo;
    const info = convGradientInfo(name, attrs.inputShape, filter.shape, attrs, dy.shape);
    const out = wasm.makeOutput([...attrs.inputShape], 'float32');
    nativeConv(blas, ConvMode.InputGrad, wasm, info, out, filter, dy);
    return out;
  };
}
