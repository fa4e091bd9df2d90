// Building an ONNX graph one node at a time, tracking the current value's name, layout and shape.
import type { OnnxAttribute, OnnxNode, OnnxTensor } from './onnx-proto.js';

/**
 * How the value between two layers is stored. tfjs images are NHWC; ONNX convolutions and pools take
 * NCHW, so a run of them works on a transposed copy ('nchw'), transposed back before anything that
 * depends on the axis order (Flatten, Reshape, Dense, Softmax) so that the values line up with tfjs.
 */
export type Layout = 'tfjs' | 'nchw';

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

  weight(hint: string, dims: number[], values: Float32Array | number[], type: OnnxTensor['type'] = 'float32'): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims, values, type });
    return name;
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
