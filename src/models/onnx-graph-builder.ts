// Building an ONNX graph one node at a time, tracking the current value's name, layout and shape.
import type { OnnxAttribute, OnnxNode, OnnxTensor } from './onnx-proto.js';

/**
 * How the value between two layers is stored. tfjs images are NHWC; ONNX convolutions and pools take
 * NCHW, so a run of them works on a transposed copy ('nchw'), transposed back before anything that
 * depends on the axis order (Flatten, Reshape, Dense, Softmax) so that the values line up with tfjs.
 */
export type Layout = 'tfjs' | 'nchw';

/** Builds the graph node by node, naming each value. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private count = 0;

  constructor(
    public value: string,
    public layout: Layout,
    /** The current value's shape in tfjs order, batch dimension included (null). */
    public shape: (number | null)[],
  ) {}

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
    const output = this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, inputs: [this.value, ...extra], outputs: [output], attributes });
    this.value = output;
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
