// Building an ONNX graph one node at a time, tracking the current value's name, layout and shape.
import type { OnnxAttribute, OnnxNode, OnnxTensor } from './onnx-proto.js';

/**
 * How the value between two layers is stored. tfjs images are NHWC; ONNX convolutions and pools take
 * NCHW, so a run of them works on a transposed copy ('nchw'), transposed back before anything that
 * depends on the axis order (Flatten, Reshape, Dense, Softmax) so that the values line up with tfjs.
 */
export type Layout = 'tfjs' | 'nchw';

/** The fewest values a kernel needs to be stored as uint8: below it the scale and zero point outweigh the saving. */
const QUANTIZE_MIN_VALUES = 64;

/**
 * Per-tensor affine uint8, as ONNX's DequantizeLinear reads it: value = (q - zeroPoint) * scale. The range
 * is widened to hold 0, so that the zero point is a whole number in [0, 255] and 0 stays exact.
 */
export function quantizeUint8(values: Float32Array): { quantized: Uint8Array; scale: number; zeroPoint: number } {
  let min = 0;
  let max = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const scale = Math.fround(max > min ? (max - min) / 255 : 1);
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-min / scale)));
  const quantized = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) quantized[i] = Math.min(255, Math.max(0, Math.round(values[i] / scale) + zeroPoint));
  return { quantized, scale, zeroPoint };
}

/** One value of the graph as a layer reads it: its name, layout, tfjs shape and padding mask. */
export interface GraphValue {
  value: string;
  layout: Layout;
  /** The value's shape in tfjs order, batch dimension included (null). */
  shape: (number | null)[];
  /**
   * The tfjs mask that travels with the value (an Embedding's maskZero), as a float32 [batch, steps]
   * value, 1 on a real step and 0 on a masked one; undefined when it has none.
   */
  mask?: string;
}

/** Builds the graph node by node, naming each value. */
export class GraphBuilder implements GraphValue {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  mask?: string;
  /** Store the layers' kernels as uint8 with a DequantizeLinear each (see {@link kernel}). */
  quantizeKernels = false;
  private count = 0;

  constructor(
    public value: string,
    public layout: Layout,
    /** The current value's shape in tfjs order, batch dimension included (null). */
    public shape: (number | null)[],
  ) {}

  /** The current value, as a later layer reads it. */
  current(): GraphValue {
    return { value: this.value, layout: this.layout, shape: this.shape.slice(), mask: this.mask };
  }

  /** Makes `from` the current value. */
  use(from: GraphValue): void {
    this.value = from.value;
    this.layout = from.layout;
    this.shape = from.shape.slice();
    this.mask = from.mask;
  }

  /** Appends a node on explicit inputs and returns its output's name; the current value stays. */
  apply(opType: string, inputs: string[], attributes?: Record<string, OnnxAttribute>): string {
    const output = this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [output], attributes });
    return output;
  }

  fresh(hint: string): string {
    return `${hint}_${this.count++}`;
  }

  weight(hint: string, dims: number[], values: Float32Array | Uint8Array | number[], type: OnnxTensor['type'] = 'float32'): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims, values, type });
    return name;
  }

  /**
   * A layer's learned weight tensor (a kernel or an embedding table). With quantizeKernels, one of at least
   * QUANTIZE_MIN_VALUES values is stored as uint8 (per-tensor affine) and dequantized by a DequantizeLinear
   * node, which onnxruntime folds into a float32 constant when it loads the model: the file shrinks, the
   * arithmetic stays float32. Small tensors (biases, fixed constants) stay float32.
   */
  kernel(hint: string, dims: number[], values: Float32Array): string {
    if (!this.quantizeKernels || values.length < QUANTIZE_MIN_VALUES) return this.weight(hint, dims, values);
    const { quantized, scale, zeroPoint } = quantizeUint8(values);
    const stored = this.weight(`${hint}_uint8`, dims, quantized, 'uint8');
    return this.apply('DequantizeLinear', [stored, this.weight('scale', [], [scale]), this.weight('zero_point', [], [zeroPoint], 'uint8')]);
  }

  /** Appends a node reading the current value (and `extra` inputs), whose output becomes the current value. */
  op(opType: string, extra: string[] = [], attributes?: Record<string, OnnxAttribute>): void {
    this.value = this.apply(opType, [this.value, ...extra], attributes);
  }

  toLayout(layout: Layout): void {
    if (this.layout === layout || this.shape.length !== 4) {
      this.layout = layout;
      return;
    }
    this.op('Transpose', [], { perm: { ints: layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] } });
    this.layout = layout;
  }
}
