// A cnn1d student's training twin: after its `rows` token front (models/token-front.ts) the stock layers are a
// same-padded Conv1D with bias and ReLU, padding zeroed again, the global maximum over the positions, and a
// dense chain (models/dense-chain.ts) to the logits. Recognised in the graph, so that the trainer computes
// all of it outside tfjs (train/token-conv-step.ts) and tfjs computes only the loss on the logits. Anything
// else (other conv settings, regularisers, constraints, dropout, frozen or non-float32 weights, more layers)
// is not recognised and trains through the token front and tfjs. The saved model stays the stock graph.
import type * as tf from '@tensorflow/tfjs';
import { type DenseChain, denseChainAfter } from './dense-chain.js';
import { classOf, configOf, consumers, isRealTokens, producer, type TokenFront } from './token-front.js';

type Layer = tf.layers.Layer;

/** A recognised cnn1d student: its table, its convolution's weights, and the dense chain after the maximum. */
export interface TokenConv {
  /** The embedding table [vocabSize, width]. */
  table: tf.LayerVariable;
  vocabSize: number;
  width: number;
  maxLength: number;
  /** The filters [kernelSize, width, filters] and bias [filters]. */
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable;
  kernelSize: number;
  filters: number;
  /** The dense layers from the maximum [n, filters] to the logits. */
  head: DenseChain;
}

/** The sole consumer of `t`, when it has one call with one output. */
function soleConsumer(model: tf.LayersModel, t: tf.SymbolicTensor) {
  const found = consumers(model, t);
  return found.length === 1 && found[0].node.outputTensors.length === 1 ? found[0] : undefined;
}

const one = (v: unknown) => v === 1 || (Array.isArray(v) && v.length === 1 && v[0] === 1);
const channelsLast = (layer: Layer) => (configOf(layer).dataFormat ?? 'channelsLast') === 'channelsLast';

/** Whether no regulariser adds to the loss and no constraint changes the weights after an update. */
function plainWeights(config: Record<string, unknown>, names: string[]): boolean {
  return (
    names.every((name) => config[`${name}Regularizer`] == null && config[`${name}Constraint`] == null) && config.activityRegularizer == null
  );
}

/** Whether every weight of `layer` is trainable and float32. */
const trainableFloat32 = (layer: Layer) => layer.trainable && layer.weights.every((w) => w.trainable && w.dtype === 'float32');

/**
 * Whether `layer` is a Conv1D as cnn1d builds it: stride 1, no dilation, 'same' padding, channels last, a
 * bias and ReLU, its weights trainable float32 with no regulariser or constraint.
 */
function isSameReluConv(layer: Layer): boolean {
  const config = configOf(layer);
  return (
    classOf(layer) === 'Conv1D' &&
    config.padding === 'same' &&
    config.activation === 'relu' &&
    config.useBias === true &&
    channelsLast(layer) &&
    one(config.strides) &&
    one(config.dilationRate) &&
    plainWeights(config, ['kernel', 'bias']) &&
    layer.weights.length === 2 &&
    trainableFloat32(layer)
  );
}

/** The Multiply of `t` by the real-token indicator of `ids`, when it is `t`'s sole consumer; with the layers that make the indicator. */
function maskedByRealTokens(
  model: tf.LayersModel,
  t: tf.SymbolicTensor,
  ids: tf.SymbolicTensor,
): { out: tf.SymbolicTensor; layers: Layer[] } | undefined {
  const masked = soleConsumer(model, t);
  if (!masked || classOf(masked.layer) !== 'Multiply' || masked.node.inputTensors.length !== 2) return undefined;
  const [first, second] = masked.node.inputTensors;
  if (first.id !== t.id || !isRealTokens(second, ids)) return undefined;
  const reshape = producer(second);
  const clip = producer(reshape.node.inputTensors[0]);
  return { out: masked.node.outputTensors[0], layers: [masked.layer, reshape.layer, clip.layer] };
}

/**
 * The cnn1d student behind `front` (a `rows` front of `model`), or undefined when its layers after the front
 * are not exactly Conv1D (as {@link isSameReluConv}), the product with the real-token indicator,
 * GlobalMaxPooling1D and a dense chain to the output, each the sole consumer of the one before, or when the
 * model has any other layer.
 */
export function tokenConv(model: tf.LayersModel, front: TokenFront): TokenConv | undefined {
  if (front.kind !== 'rows' || model.losses.length > 0) return undefined;
  const embedding = producer(producer(front.output).node.inputTensors[0]).layer;
  const embeddingConfig = configOf(embedding);
  if (!plainWeights(embeddingConfig, ['embeddings']) || !trainableFloat32(embedding) || embedding.weights.length !== 1) return undefined;
  const conv = soleConsumer(model, front.output);
  if (!conv || !isSameReluConv(conv.layer) || conv.node.inputTensors.length !== 1) return undefined;
  const masked = maskedByRealTokens(model, conv.node.outputTensors[0], front.ids);
  const pool = masked && soleConsumer(model, masked.out);
  if (!pool || classOf(pool.layer) !== 'GlobalMaxPooling1D' || !channelsLast(pool.layer)) return undefined;
  const [kernel, bias] = conv.layer.weights;
  const [kernelSize, width, filters] = kernel.shape as [number, number, number];
  if (kernel.shape.length !== 3 || width !== front.width || bias.shape.length !== 1 || bias.shape[0] !== filters) return undefined;
  const head = denseChainAfter(model, pool.node.outputTensors[0], filters);
  if (!head) return undefined;
  // The front's own layers (the embedding, its mask and indicator), then these: every layer the model has.
  const frontMask = producer(front.output);
  const frontIndicator = producer(frontMask.node.inputTensors[1]);
  const known = new Set<Layer>([
    embedding,
    frontMask.layer,
    frontIndicator.layer,
    producer(frontIndicator.node.inputTensors[0]).layer,
    conv.layer,
    ...masked.layers,
    pool.layer,
    ...head.layers,
  ]);
  if (model.layers.some((layer) => classOf(layer) !== 'InputLayer' && !known.has(layer))) return undefined;
  const { table, vocabSize, maxLength } = front;
  return { table, vocabSize, width, maxLength, kernel, bias, kernelSize, filters, head: head.chain };
}
