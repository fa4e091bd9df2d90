/** Conv2DBackpropFilter in the addon: dW from x and dy. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ConvMode, type NativeBlas } from '../blas-loader.js';
import { convGradientInfo } from '../conv-geometry.js';
import { allFloat32, type Fallback } from './fallback.js';
import { nativeConv } from './native-conv.js';

/** dW from x and dy: the output takes the place of the filter, the input it is the gradient of. */
export function conv2DBackpropFilterKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => {
    const name = 'Conv2DBackpropFilter';
    const wasm = args.backend as BackendWasm;
    const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat === 'NCHW' || !allFloat32(dy, x)) return fallback(name, args) as tf.TensorInfo;
    const info = convGradientInfo(name, x.shape, attrs.filterShape, attrs, dy.shape);
    const out = wasm.makeOutput([...attrs.filterShape], 'float32');
    nativeConv(blas, ConvMode.FilterGrad, wasm, info, x, out, dy);
    return out;
  };
}
