// Exporting a single-path tfjs LayersModel to an ONNX model: the path's layers, each as its nodes.
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder } from './onnx-graph-builder.js';
import { UnsupportedLayerError, exportLayer } from './onnx-layer-nodes.js';
import { encodeModel } from './onnx-proto.js';

export { EXPORTABLE_LAYERS, UnsupportedLayerError } from './onnx-layer-nodes.js';

/** An exported model: the ONNX bytes and the names and shapes the runtime feeds and reads. */
export interface ExportedOnnx {
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** One row's input shape, as the tfjs model takes it (channels last). */
  inputShape: number[];
  outputShape: number[];
}

interface InboundNode {
  inboundLayers: tf.layers.Layer[];
}

/**
 * The model's layers in order, when they form one path from the input to the output (a Sequential model,
 * or a functional one without branches); otherwise an UnsupportedLayerError naming the first layer off it.
 */
function singlePath(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers;
  for (let i = 0; i < layers.length; i++) {
    const inbound = (layers[i] as unknown as { inboundNodes: InboundNode[] }).inboundNodes;
    const from = inbound.flatMap((node) => node.inboundLayers);
    // The first layer reads the input: its own InputLayer, or one that Sequential keeps out of `layers`.
    const fits =
      i === 0
        ? from.length === 0 || (from.length === 1 && from[0].getClassName() === 'InputLayer')
        : from.length === 1 && from[0] === layers[i - 1];
    if (!fits) {
      throw new UnsupportedLayerError(
        layers[i].getClassName(),
        layers[i].name,
        'is not on a single path from the input (branches, merges and shared layers have no ONNX export here)',
      );
    }
  }
  if (model.outputs.length !== 1 || model.outputs[0].sourceLayer !== layers[layers.length - 1]) {
    throw new UnsupportedLayerError(model.getClassName(), model.name, 'does not end in its last layer; export a single-output model');
  }
  return layers;
}

/**
 * Exports a tfjs LayersModel with one input-to-output path to an ONNX model (opset 13) that computes the
 * same outputs: channels-last input, as the tfjs model takes it. A layer class it cannot export throws an
 * {@link UnsupportedLayerError} naming it.
 */
export function exportLayersToOnnx(model: tf.LayersModel): ExportedOnnx {
  const layers = singlePath(model);
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const outputShape = model.outputs[0].shape.slice(1) as number[];
  const g = new GraphBuilder('input', 'tfjs', [null, ...inputShape]);
  for (const layer of layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    exportLayer(g, layer);
    g.shape = (layer.outputShape as (number | null)[]).slice();
  }
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
