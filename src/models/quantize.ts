// Writes quantised variants of a layers model in tfjs-converter's weightsManifest format, which stock
// `tf.loadLayersModel` dequantises while it decodes the weights (tfjs-core io/io_utils decodeWeights):
// uint8/uint16 values v become v * scale + min, float16 values are widened to float32.
import type * as tf from '@tensorflow/tfjs';
import { check } from '../errors.js';
import { type ModelData, modelToData } from './model-data.js';
import { saveModel } from './model-files.js';

/** The weight formats a variant can store: the three that tfjs's weight decoder reads. */
export type QuantizationDtype = 'uint8' | 'uint16' | 'float16';

/** Every {@link QuantizationDtype}, smallest first. */
export const QUANTIZATION_DTYPES: readonly QuantizationDtype[] = ['uint8', 'uint16', 'float16'];

/**
 * The `quantization` entry of one weight in model.json, as tfjs-converter writes it: `min` and `scale` for
 * the affine integer formats, and the dtype the weight decodes to.
 */
export interface WeightQuantization {
  dtype: QuantizationDtype;
  min?: number;
  scale?: number;
  original_dtype: 'float32';
}

/** One quantised tensor: its stored bytes and its manifest entry. */
export interface QuantizedTensor {
  bytes: Uint8Array;
  quantization: WeightQuantization;
}

/** The largest stored integer of each affine format. */
const LEVELS: Record<'uint8' | 'uint16', number> = { uint8: 255, uint16: 65535 };

/** Bytes per element of the unquantised weight dtypes a layers model holds. */
const SOURCE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** Rounds half to even, as numpy's `round` does, so ties land where the converter puts them. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The converter's per-tensor affine range for values spanning [min, max]: `scale` spreads the span over
 * every level, and when the span covers 0 the range is shifted (by less than half a step) so that 0 falls
 * exactly on a level. Without that shift zero weights (zero padding, dead units) would dequantise to a
 * small non-zero value.
 */
export function affineRange(min: number, max: number, levels: number): { min: number; max: number; scale: number } {
  if (min === max) return { min, max, scale: 1 };
  const scale = (max - min) / levels;
  if (!(min <= 0 && 0 <= max)) return { min, max, scale };
  const zeroLevel = roundHalfEven((0 - min) / scale);
  const nudgedMin = -zeroLevel * scale;
  return { min: nudgedMin, max: levels * scale + nudgedMin, scale };
}

/** Quantises one float32 tensor to uint8 or uint16 with the converter's affine maths. */
export function quantizeAffine(values: Float32Array, dtype: 'uint8' | 'uint16'): QuantizedTensor {
  const levels = LEVELS[dtype];
  let lowest = Number.POSITIVE_INFINITY;
  let highest = Number.NEGATIVE_INFINITY;
  for (const value of values) {
    if (value < lowest) lowest = value;
    if (value > highest) highest = value;
  }
  if (values.length === 0) lowest = highest = 0;
  const range = affineRange(lowest, highest, levels);
  const stored = dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  // A single-valued tensor stores zeros: min alone restores it (scale 1 times level 0).
  if (lowest !== highest) {
    for (let i = 0; i < values.length; i++) {
      const clipped = Math.min(Math.max(values[i], range.min), range.max);
      stored[i] = Math.min(levels, Math.max(0, roundHalfEven((clipped - range.min) / range.scale)));
    }
  }
  return {
    bytes: new Uint8Array(stored.buffer),
    quantization: { dtype, min: range.min, scale: range.scale, original_dtype: 'float32' },
  };
}

const float32Scratch = new Float32Array(1);
const float32Bits = new Uint32Array(float32Scratch.buffer);

/**
 * The IEEE half-precision bits nearest to a float32 value, ties to even (what numpy's astype(float16)
 * gives). Values past float16's largest finite value become infinities; NaN stays NaN.
 */
export function float16Bits(value: number): number {
  float32Scratch[0] = value;
  const bits = float32Bits[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  if (exponent === 0xff) return sign | (bits & 0x7fffff ? 0x7e00 : 0x7c00);
  const magnitude = Math.abs(float32Scratch[0]);
  // 65520 lies halfway between 65504 (the largest half) and 65536, and the tie goes to the even 65536: infinity.
  if (magnitude >= 65520) return sign | 0x7c00;
  // Below 2^-14 halves are subnormal: multiples of 2^-24. A rounded 1024 is the smallest normal, as it should be.
  if (magnitude < 2 ** -14) return sign | roundHalfEven(magnitude * 2 ** 24);
  const power = exponent - 127;
  let mantissa = roundHalfEven((magnitude / 2 ** power - 1) * 1024);
  let biased = power + 15;
  if (mantissa === 1024) {
    mantissa = 0;
    biased += 1;
  }
  return sign | (biased << 10) | mantissa;
}

/** Stores one float32 tensor as float16, refusing values that float16 cannot hold. */
export function quantizeFloat16(values: Float32Array, name = 'weight'): QuantizedTensor {
  const stored = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const half = float16Bits(values[i]);
    check(
      (half & 0x7c00) !== 0x7c00,
      () => `weight ${name} holds ${values[i]}, beyond float16's range of +-65504; write a uint8 or uint16 variant instead`,
      ['quantize'],
    );
    stored[i] = half;
  }
  return { bytes: new Uint8Array(stored.buffer), quantization: { dtype: 'float16', original_dtype: 'float32' } };
}

/** Quantises one float32 tensor to `dtype`; `name` says which weight in errors. */
export function quantizeTensor(values: Float32Array, dtype: QuantizationDtype, name = 'weight'): QuantizedTensor {
  for (const value of values) {
    check(
      Number.isFinite(value),
      () => `weight ${name} holds ${value}, so no ${dtype} variant can represent it; retrain the model until its weights are finite`,
      ['quantize'],
    );
  }
  return dtype === 'float16' ? quantizeFloat16(values, name) : quantizeAffine(values, dtype);
}

/**
 * A copy of a model whose float32 weights are stored as `dtype`, each tensor with its own range (embedding
 * tables included). Weights of other dtypes (int32, bool) are copied unchanged.
 */
export function quantizeModelData(data: ModelData, dtype: QuantizationDtype): ModelData {
  check(QUANTIZATION_DTYPES.includes(dtype), `unknown quantisation '${dtype}'; quantize takes ${QUANTIZATION_DTYPES.join(', ')}`, [
    'quantize',
  ]);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const spec of data.weightSpecs) {
    check(!spec.quantization, `weight ${spec.name} is already stored as ${spec.quantization?.dtype}; quantise the float32 model instead`, [
      'quantize',
    ]);
    const perElement = SOURCE_BYTES[spec.dtype];
    check(
      perElement !== undefined,
      `weight ${spec.name} has dtype ${spec.dtype}, which a layers model does not store; give a model saved by tfjs (model.save or saveModel)`,
    );
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = data.weights.slice(offset, offset + size * perElement);
    check(bytes.byteLength === size * perElement, `the model's weights end before weight ${spec.name}; save the model again`);
    offset += bytes.byteLength;
    if (spec.dtype !== 'float32') {
      specs.push({ ...spec });
      parts.push(new Uint8Array(bytes));
      continue;
    }
    const quantized = quantizeTensor(new Float32Array(bytes), dtype, spec.name);
    // tfjs's typing of `quantization` lacks original_dtype, which the converter writes and the decoder ignores.
    specs.push({ ...spec, quantization: quantized.quantization as tf.io.WeightsManifestEntry['quantization'] });
    parts.push(quantized.bytes);
  }
  check(offset === data.weights.byteLength, "the model's weights are longer than its specs say; save the model again");
  const weights = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    weights.set(part, at);
    at += part.byteLength;
  }
  return { ...data, weightSpecs: specs, weights: weights.buffer };
}

/**
 * Writes the `dtype` variant of a model as `dir/model.json` + `dir/weights.bin`, which stock
 * `tf.loadLayersModel` loads (it dequantises to float32 as it reads). Returns the bytes written.
 */
export async function saveQuantizedModel(model: tf.LayersModel | ModelData, dir: string, dtype: QuantizationDtype): Promise<number> {
  const data = 'weightSpecs' in model ? model : await modelToData(model);
  return saveModel(quantizeModelData(data, dtype), dir);
}
