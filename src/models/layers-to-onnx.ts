// Exporting a tfjs LayersModel to an ONNX model: its graph of layers (a chain, or a functional model's
// branches and merges) in topological order, each layer as its nodes.
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder, type GraphValue } from './onnx-graph-builder.js';
import { IMAGE_AND_DENSE_LAYERS, UnsupportedLayerError, exportLayer } from './onnx-layer-nodes.js';
import { MERGE_LAYERS, exportMergeLayer } from './onnx-merge-nodes.js';
import { encodeModel } from './onnx-proto.js';
import { SEQUENCE_LAYERS, exportSequenceLayer } from './onnx-sequence-nodes.js';

export { UnsupportedLayerError } from './onnx-layer-nodes.js';

/** The layer classes exportLayersToOnnx handles. */
export const EXPORTABLE_LAYERS: readonly string[] = [...IMAGE_AND_DENSE_LAYERS, ...SEQUENCE_LAYERS, ...MERGE_LAYERS];

/** An exported model: the ONNX bytes and the names and shapes the runtime feeds and reads. */
export interface ExportedOnnx {
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** One row's input shape, as the tfjs model takes it (channels last). */
  inputShape: number[];
  outputShape: number[];
}

/** The parts of a tfjs SymbolicTensor the export walks: the layer that made it and the values it read. */
interface GraphTensor {
  id: number;
  sourceLayer: tf.layers.Layer;
  inputs: GraphTensor[];
}

/** Every value the output depends on, each after the values it reads (a depth-first walk from the output). */
function topologicalOrder(output: GraphTensor): GraphTensor[] {
  const order: GraphTensor[] = [];
  const seen = new Set<number>();
  const visit = (tensor: GraphTensor) => {
    if (seen.has(tensor.id)) return;
    seen.add(tensor.id);
    for (const input of tensor.inputs) visit(input);
    order.push(tensor);
  };
  visit(output);
  return order;
}

/** Appends one layer's nodes on the values it reads, then sets the mask its output carries, as tfjs does. */
function exportNode(g: GraphBuilder, layer: tf.layers.Layer, inputs: GraphValue[]): void {
  if (Array.isArray((layer.outputShape as unknown[])[0])) {
    throw new UnsupportedLayerError(layer.getClassName(), layer.name, 'has several outputs; export layers of one output');
  }
  if (exportMergeLayer(g, layer, inputs)) return;
  if (inputs.length !== 1) throw new UnsupportedLayerError(layer.getClassName(), layer.name);
  g.use(inputs[0]);
  if (!exportSequenceLayer(g, layer)) exportLayer(g, layer);
  // tfjs passes a mask on through the layers that support masking and drops it at the others.
  if (!layer.supportsMasking) g.mask = undefined;
}

/** How {@link exportLayersToOnnx} stores the weights. */
export interface OnnxExportOptions {
  /**
   * `float32` (the default), or `uint8`: each kernel and embedding table as uint8 (per-tensor affine) with a
   * DequantizeLinear node, about a quarter of the bytes; onnxruntime dequantizes them once, when it loads
   * the model, and computes in float32. Biases and small tensors stay float32.
   */
  weights?: 'float32' | 'uint8';
}

/**
 * Exports a tfjs LayersModel of one input and one output (Sequential, or functional with branches and
 * merges) to an ONNX model (opset 13) that computes the same outputs from the same float32 input:
 * channels-last images, feature rows, or token ids as float32 (cast to int64 inside). A layer it cannot
 * export throws an {@link UnsupportedLayerError} naming it.
 */
export function exportLayersToOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): ExportedOnnx {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UnsupportedLayerError(
      model.getClassName(),
      model.name,
      `has ${model.inputs.length} inputs and ${model.outputs.length} outputs; export a model of one each`,
    );
  }
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const outputShape = model.outputs[0].shape.slice(1) as number[];
  const g = new GraphBuilder('input', 'tfjs', [null, ...inputShape]);
  g.quantizeKernels = options.weights === 'uint8';
  const input = model.inputs[0] as unknown as GraphTensor;
  const values = new Map<number, GraphValue>([[input.id, g.current()]]);
  for (const tensor of topologicalOrder(model.outputs[0] as unknown as GraphTensor)) {
    if (values.has(tensor.id)) continue;
    const layer = tensor.sourceLayer;
    if (tensor.inputs.length === 0) throw new UnsupportedLayerError(layer.getClassName(), layer.name, "is an input other than the model's");
    exportNode(
      g,
      layer,
      tensor.inputs.map((from) => values.get(from.id)!),
    );
    g.shape = (layer.outputShape as (number | null)[]).slice();
    values.set(tensor.id, g.current());
  }
  g.use(values.get((model.outputs[0] as unknown as GraphTensor).id)!);
  g.toLayout('tfjs');
  // The output gets a fixed name; an input that is the output (a model of no layers) still gets a node.
  g.op('Identity');
  const output = 'output';
  g.nodes[g.nodes.length - 1].outputs = [output];
  const bytes = encodeModel(
    {
      name: model.name,
      nodes: g.nodes,
      initializers: g.initializers,
      input: { name: 'input', shape: [null, ...inputShape] },
      output: { name: output, shape: [null, ...outputShape] },
    },
    'tfjs-distill',
  );
  return { bytes, inputName: 'input', outputName: output, inputShape, outputShape };
}
