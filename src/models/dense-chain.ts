// A plain dense student's training twin: a model whose graph is one chain of Flatten, Dense (linear or ReLU)
// and ReLU layers, recognised in its stock-layer graph so that the trainer can run its forward and backward
// passes layer by layer on the shared weights (train/dense-chain-step.ts), without tfjs's tape. The saved
// model stays the stock graph; any other model (dropout, normalisation, convolutions, regularisers, shared
// layers) is not a chain and trains through tfjs's autograd.
import type * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;

/** One dense layer of a chain, in model order. */
export interface DenseChainLayer {
  kernel: tf.LayerVariable;
  /** Absent when the layer has no bias. */
  bias?: tf.LayerVariable;
  inWidth: number;
  units: number;
  /** Whether a ReLU follows the affine map (the layer's own activation or a ReLU layer after it). */
  relu: boolean;
}

/** A recognised dense chain: the model's logits are the last layer's output, from the flattened input row. */
export interface DenseChain {
  layers: DenseChainLayer[];
  /** The input row's length (the product of the input shape). */
  inputWidth: number;
}

const configOf = (layer: Layer) => layer.getConfig() as Record<string, unknown>;

/** The layers from `from` to the model's output, when that part of the graph is a single chain of single-input calls. */
function layersBetween(model: tf.LayersModel, from: tf.SymbolicTensor): Layer[] | undefined {
  if (model.outputs.length !== 1) return undefined;
  const chain: Layer[] = [];
  for (let t = model.outputs[0]; t.id !== from.id; ) {
    const layer = t.sourceLayer;
    if (layer.inboundNodes.length !== 1) return undefined; // a layer called twice shares its weights
    const [node] = layer.inboundNodes;
    // Not one input (or another model input, which is its own input): not a chain from `from`.
    if (node.inputTensors.length !== 1 || node.outputTensors.length !== 1 || node.inputTensors[0].id === t.id) return undefined;
    chain.unshift(layer);
    t = node.inputTensors[0];
  }
  return chain;
}

/** The layers from the model's input to its output, when the graph is a single chain of single-input calls. */
function chainLayers(model: tf.LayersModel): Layer[] | undefined {
  if (model.inputs.length !== 1) return undefined;
  const chain = layersBetween(model, model.inputs[0]);
  // Every layer but the input's on the chain: nothing else runs, or adds to the loss.
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  return chain && layers.length === chain.length ? chain : undefined;
}

/** Whether `layer` is a plain ReLU: a ReLU layer without a cap, or an Activation layer of relu. */
function isPlainRelu(layer: Layer): boolean {
  const config = configOf(layer);
  if (layer.getClassName() === 'ReLU') return config.maxValue == null;
  return layer.getClassName() === 'Activation' && config.activation === 'relu';
}

/** A Dense layer the chain can run: linear or ReLU, every weight trainable and float32, no regulariser, on rank-2 rows. */
function denseLayer(layer: Layer, inWidth: number): DenseChainLayer | undefined {
  const config = configOf(layer);
  const activation = config.activation;
  if (activation !== 'linear' && activation !== 'relu') return undefined;
  if (!layer.trainable) return undefined;
  if (config.kernelRegularizer != null || config.biasRegularizer != null || config.activityRegularizer != null) return undefined;
  // All the layer's weights, not only the trainable ones: a frozen bias still adds to the output.
  const weights = layer.weights;
  if (weights.length !== (config.useBias === false ? 1 : 2) || weights.some((w) => !w.trainable || w.dtype !== 'float32')) return undefined;
  const [kernel, bias] = weights;
  if (kernel.shape.length !== 2 || kernel.shape[0] !== inWidth) return undefined;
  const units = kernel.shape[1]!;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== units)) return undefined;
  return { kernel, bias, inWidth, units, relu: activation === 'relu' };
}

/** The chain's dense layers, from rows of `inputWidth` values of rank `rank` (2: flat rows), or undefined. */
function denseLayersOf(layers: Layer[], inputWidth: number, rank: number): DenseChainLayer[] | undefined {
  const dense: DenseChainLayer[] = [];
  for (const layer of layers) {
    const last = dense.at(-1);
    const className = layer.getClassName();
    // A channelsFirst Flatten moves the channels last first: its output is not the row in the order the chain reads it.
    if (className === 'Flatten' && !last && configOf(layer).dataFormat !== 'channelsFirst') rank = 2;
    else if (isPlainRelu(layer) && last) last.relu = true;
    else if (className === 'Dense' && rank === 2) {
      const next = denseLayer(layer, last?.units ?? inputWidth);
      if (!next) return undefined;
      dense.push(next);
    } else return undefined;
  }
  return dense.length > 0 ? dense : undefined;
}

/**
 * The dense chain of `model`, or undefined when the model is anything else: one input, then Flatten layers
 * (before the first Dense), Dense layers and plain ReLU layers (each after a Dense), the last Dense's output
 * the logits.
 */
export function denseChain(model: tf.LayersModel): DenseChain | undefined {
  const layers = chainLayers(model);
  const inputShape = model.inputs[0]?.shape.slice(1);
  if (!layers || !inputShape || inputShape.some((d) => d === null)) return undefined;
  const inputWidth = (inputShape as number[]).reduce((a, b) => a * b, 1);
  const dense = denseLayersOf(layers, inputWidth, inputShape.length + 1);
  return dense && { layers: dense, inputWidth };
}

/**
 * The dense chain from `from` (rows of `width` values) to the model's output, as {@link denseChain} takes
 * one from the input, with the layers it runs; undefined when that part of the graph is not one.
 */
export function denseChainAfter(
  model: tf.LayersModel,
  from: tf.SymbolicTensor,
  width: number,
): { chain: DenseChain; layers: Layer[] } | undefined {
  const layers = layersBetween(model, from);
  const dense = layers && denseLayersOf(layers, width, 2);
  return dense && layers && { chain: { layers: dense, inputWidth: width }, layers };
}
