/** MaxPoolGrad for the wasm backend: a JS loop on the wasm heap. */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { maxPoolGradInfo } from '../conv-geometry.js';
import { heap } from './heap-tensors.js';

/**
 * The gradient of a max pool: each dy value goes to the input position that was the maximum of its
 * window, the first one in row-major order on ties, as the cpu backend does (the wasm backend's own
 * kernel picks other positions on ties, and is slower: bench/kernels.mjs times both).
 * One pass over the windows, all channels of a window at once.
 */
export const maxPoolGrad =
  (own: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const wasm = args.backend as BackendWasm;
    const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') return own(args);
    const info = maxPoolGradInfo(input.shape, args.attrs as unknown as tf.MaxPoolGradAttrs);
    const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight, outWidth, strideHeight, strideWidth } = info;
    const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
    const out = wasm.makeOutput([...input.shape], 'float32');
    const [dx, x, g] = [heap(wasm, out), heap(wasm, input), heap(wasm, dy)];
    dx.fill(0);
    const best = new Float32Array(c);
    const at = new Int32Array(c);
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        const y0 = oy * strideHeight - info.padInfo.top;
        for (let ox = 0; ox < outWidth; ox++) {
          const x0 = ox * strideWidth - info.padInfo.left;
          best.fill(-Infinity);
          at.fill(-1);
          const [yFrom, yTo, xFrom, xTo] = [Math.max(y0, 0), Math.min(y0 + fh, h), Math.max(x0, 0), Math.min(x0 + fw, w)];
          for (let iy = yFrom; iy < yTo; iy++) {
            for (let ix = xFrom; ix < xTo; ix++) {
              const base = ((b * h + iy) * w + ix) * c;
              for (let d = 0; d < c; d++) {
                const v = x[base + d];
                if (v > best[d]) {
                  best[d] = v;
                  at[d] = base + d;
                }
              }
            }
          }
          const from = ((b * outHeight + oy) * outWidth + ox) * c;
          for (let d = 0; d < c; d++) if (at[d] >= 0) dx[at[d]] += g[from + d];
        }
      }
    }
    return out;
  };
