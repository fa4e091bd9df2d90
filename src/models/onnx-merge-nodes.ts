// The ONNX nodes of the tfjs layers that join several values: element-wise merges, Concatenate and Dot.
import type * as tf from '@tensorflow/tfjs';
import type { GraphBuilder, GraphValue } from './onnx-graph-builder.js';
import { UnsupportedLayerError } from './onnx-layer-nodes.js';

/** The merge layer classes this file exports. */
export const MERGE_LAYERS = ['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'Dot'] as const;

/** The ONNX operator of each element-wise merge: Add, Mul and Sub take two inputs, the others any number. */
const ELEMENT_WISE: Record<string, string> = {
  Add: 'Sum',
  Subtract: 'Sub',
  Multiply: 'Mul',
  Average: 'Mean',
  Maximum: 'Max',
  Minimum: 'Min',
};

/**
 * tfjs's Dot of two values [batch, m, k]-like, contracting `axes`: x moved to [batch, m, k] and y to
 * [batch, k, n], then MatMul, [batch, m, n], as tfjs's batchDot gives; two [batch, k] values give [batch, 1].
 */
function dot(g: GraphBuilder, layer: tf.layers.Layer, [x, y]: string[], ranks: number[]): string {
  const config = layer.getConfig() as { axes: number | [number, number]; normalize?: boolean };
  const refuse = (why: string) => new UnsupportedLayerError(layer.getClassName(), layer.name, why);
  if (config.normalize) throw refuse('normalizes its inputs; only normalize false is exported');
  const [rankX, rankY] = ranks;
  const positive = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
  const [ax, ay] = (Array.isArray(config.axes) ? config.axes : [config.axes, config.axes]).map((axis, i) => positive(axis, ranks[i]));
  if (rankX === 2 && rankY === 2 && ax === 1 && ay === 1) {
    return g.apply('ReduceSum', [g.apply('Mul', [x, y]), g.weight('axis', [1], [1], 'int64')], { keepdims: { int: 1 } });
  }
  if (rankX !== 3 || rankY !== 3 || ax === 0 || ay === 0) throw refuse('is a Dot of values other than two rank-3 or two rank-2 ones');
  const swap = (value: string) => g.apply('Transpose', [value], { perm: { ints: [0, 2, 1] } });
  return g.apply('MatMul', [ax === 1 ? swap(x) : x, ay === 2 ? swap(y) : y]);
}

/**
 * Appends a merge layer's nodes on `inputs` (each turned to tfjs layout first) and makes its output the
 * current value; false when `layer` is not one of MERGE_LAYERS.
 */
export function exportMergeLayer(g: GraphBuilder, layer: tf.layers.Layer, inputs: GraphValue[]): boolean {
  const kind = layer.getClassName();
  if (!(MERGE_LAYERS as readonly string[]).includes(kind)) return false;
  const names = inputs.map((input) => {
    g.use(input);
    g.toLayout('tfjs');
    return g.value;
  });
  const ranks = inputs.map((input) => input.shape.length);
  if (kind !== 'Dot' && ranks.some((rank) => rank !== ranks[0])) {
    throw new UnsupportedLayerError(kind, layer.name, `merges values of ranks ${ranks.join(' and ')}; only equal ranks are exported`);
  }
  // tfjs merges the masks of its inputs; only one mask shared by every input (or none) is exported.
  const masks = new Set(inputs.map((input) => input.mask));
  if (masks.size > 1) throw new UnsupportedLayerError(kind, layer.name, 'merges values with different masks, which is not exported');
  const axis = (layer.getConfig() as { axis?: number }).axis ?? -1;
  if (kind === 'Concatenate' && inputs[0].mask && axis !== -1 && axis !== ranks[0] - 1) {
    throw new UnsupportedLayerError(kind, layer.name, 'concatenates masked values along their steps, which is not exported');
  }
  let output: string;
  if (kind === 'Dot') output = dot(g, layer, names, ranks);
  else if (kind === 'Concatenate') output = g.apply('Concat', names, { axis: { int: axis } });
  else if (ELEMENT_WISE[kind] === 'Sum' || ELEMENT_WISE[kind] === 'Mean' || ELEMENT_WISE[kind] === 'Max' || ELEMENT_WISE[kind] === 'Min') {
    output = g.apply(ELEMENT_WISE[kind], names);
  } else {
    output = names.slice(1).reduce((sum, name) => g.apply(ELEMENT_WISE[kind], [sum, name]), names[0]);
  }
  g.value = output;
  g.layout = 'tfjs';
  g.mask = kind === 'Dot' ? undefined : inputs[0].mask;
  return true;
}
