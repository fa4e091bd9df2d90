import type { FeatureArray } from '../data/dataset.js';
import type { RowNormalization } from './predictor.js';

/**
 * (x - mean) / std per channel, and NHWC -> NCHW when `channelsFirst` gives [C, H, W]: one pass into a
 * new buffer. Returns float32 `x` itself when there is nothing to do; integer token ids become float32.
 */
export function prepareRows(
  x: FeatureArray,
  rows: number,
  normalize: RowNormalization | undefined,
  channelsFirst?: number[],
): Float32Array {
  if (!normalize && !channelsFirst) return x instanceof Float32Array ? x : Float32Array.from(x);
  const out = new Float32Array(x.length);
  const channels = channelsFirst ? channelsFirst[0] : (normalize?.channels ?? 1);
  const mean = normalize
    ? Float32Array.from({ length: channels }, (_, c) => normalize.mean[normalize.mean.length === 1 ? 0 : c])
    : undefined;
  const scale = normalize
    ? Float32Array.from({ length: channels }, (_, c) => 1 / normalize.std[normalize.std.length === 1 ? 0 : c])
    : undefined;
  if (!channelsFirst) {
    for (let i = 0; i < x.length; i++) {
      const c = i % channels;
      out[i] = (x[i] - mean![c]) * scale![c];
    }
    return out;
  }
  const pixels = channelsFirst[1] * channelsFirst[2];
  const rowSize = pixels * channels;
  for (let r = 0; r < rows; r++) {
    const base = r * rowSize;
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < channels; c++) {
        const value = x[base + p * channels + c];
        out[base + c * pixels + p] = mean ? (value - mean[c]) * scale![c] : value;
      }
    }
  }
  return out;
}
