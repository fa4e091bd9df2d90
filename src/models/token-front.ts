// A text student's training twin: the saved model's embedding front ("embedding, then the mean over the real
// tokens" for bag; "embedding with padding zeroed" for cnn1d) recognised in its stock-layer graph, so that the
// trainer can compute that front in one loop over the token ids and run only the layers after it through tfjs,
// on the same variables. The saved model stays the stock graph.
import type * as tf from '@tensorflow/tfjs';
import { PADDING_SCORE } from './architectures/token-layers.js';

type Layer = tf.layers.Layer;
type LayerNode = Layer['inboundNodes'][number];

/**
 * What the fused front computes from token ids [n, maxLength] (0 for padding):
 * - `mean`: [n, width], each row's mean embedding over its real tokens (over all its positions when it has
 *   none, as the stock softmax over equal scores gives);
 * - `rows`: [n, maxLength, width], the embedding of each real token and zeros at padding.
 */
export type TokenFrontKind = 'mean' | 'rows';

/** A model's recognised embedding front, and the rest of the model run from its output. */
export interface TokenFront {
  kind: TokenFrontKind;
  /** The embedding table [vocabSize, width], one of the model's trainable weights. */
  table: tf.LayerVariable;
  vocabSize: number;
  width: number;
  maxLength: number;
  /** The front's output in the model's graph, and the token ids input. */
  output: tf.SymbolicTensor;
  ids: tf.SymbolicTensor;
  /**
   * The model's logits from the front's output `front`, computed by the model's own layers and variables; the
   * `rows` front's later padding masks also read the token ids (a float32 tensor [n, maxLength]).
   */
  head(front: tf.Tensor, ids?: tf.Tensor): tf.Tensor2D;
}

/** The layer, and its call, that produced `t`. */
export function producer(t: tf.SymbolicTensor): { layer: Layer; node: LayerNode } {
  return { layer: t.sourceLayer, node: t.sourceLayer.inboundNodes[t.nodeIndex] };
}

/** The layers that take `t` as an input, with their calls. */
export function consumers(model: tf.LayersModel, t: tf.SymbolicTensor): { layer: Layer; node: LayerNode }[] {
  const found: { layer: Layer; node: LayerNode }[] = [];
  for (const layer of model.layers)
    for (const node of layer.inboundNodes) if (node.inputTensors.some((input) => input.id === t.id)) found.push({ layer, node });
  return found;
}

export const classOf = (layer: Layer) => layer.getClassName();
export const configOf = (layer: Layer) => layer.getConfig() as Record<string, unknown>;

/** The single input of a call of a layer of class `className`, or undefined. */
function soleInput(t: tf.SymbolicTensor, className: string): tf.SymbolicTensor | undefined {
  const { layer, node } = producer(t);
  return classOf(layer) === className && node.inputTensors.length === 1 ? node.inputTensors[0] : undefined;
}

/** Whether `t` is realTokens(ids) of token-layers.ts: ids clipped to [0, 1] by ReLU(max 1), reshaped to [maxLength, 1]. */
export function isRealTokens(t: tf.SymbolicTensor, ids: tf.SymbolicTensor): boolean {
  const clipped = soleInput(t, 'Reshape');
  const source = clipped && soleInput(clipped, 'ReLU');
  return source?.id === ids.id && configOf(producer(clipped!).layer).maxValue === 1;
}

/**
 * Whether `column` is the token weights of meanOverRealTokens (token-layers.ts) over the real-token indicator
 * of `ids`: the fixed padding scores, a softmax over the positions, reshaped to a column.
 */
function isRealTokenWeights(column: tf.SymbolicTensor, ids: tf.SymbolicTensor): boolean {
  const weights = soleInput(column, 'Reshape');
  const flat = weights && soleInput(weights, 'Softmax');
  const scores = flat && soleInput(flat, 'Reshape');
  const real = scores && soleInput(scores, 'Dense');
  if (!real || !isRealTokens(real, ids)) return false;
  const dense = producer(scores!).layer;
  if (dense.trainable || configOf(dense).activation !== 'linear') return false;
  const [kernel, bias] = dense.getWeights().map((w) => w.dataSync());
  return kernel?.length === 1 && kernel[0] === -PADDING_SCORE && bias?.length === 1 && bias[0] === PADDING_SCORE;
}

/**
 * Runs the model's layers from the tensors in `fed` to its output, eagerly, in the order the graph needs them.
 * Returns undefined when the output depends on a model input that is not fed.
 */
export function layersFrom(model: tf.LayersModel, fed: tf.SymbolicTensor[]): ((values: tf.Tensor[]) => tf.Tensor) | undefined {
  const steps: { layer: Layer; inputs: number[]; outputs: number[]; callArgs: object | undefined }[] = [];
  const known = new Set(fed.map((t) => t.id));
  const visit = (t: tf.SymbolicTensor): boolean => {
    if (known.has(t.id)) return true;
    const { layer, node } = producer(t);
    if (node.inputTensors.length === 0 || !node.inputTensors.every(visit)) return false; // an input layer not fed
    for (const output of node.outputTensors) known.add(output.id);
    steps.push({
      layer,
      inputs: node.inputTensors.map((i) => i.id),
      outputs: node.outputTensors.map((o) => o.id),
      callArgs: node.callArgs,
    });
    return true;
  };
  const [output] = model.outputs;
  if (!visit(output)) return undefined;
  return (values) => {
    const tensors = new Map<number, tf.Tensor>(fed.map((t, i) => [t.id, values[i]]));
    for (const { layer, inputs, outputs, callArgs } of steps) {
      const args = inputs.map((id) => tensors.get(id)!);
      const result = layer.apply(args.length === 1 ? args[0] : args, { ...callArgs, training: true }) as tf.Tensor | tf.Tensor[];
      (Array.isArray(result) ? result : [result]).forEach((t, i) => tensors.set(outputs[i], t));
    }
    return tensors.get(output.id)!;
  };
}

/**
 * The embedding front of a token-id model built by bag or cnn1d (token-layers.ts), or undefined for any other
 * model: one input of [maxLength] ids, one embedding of it (no mask) with one consumer, which is either the
 * dot with the real-token weights (then flattened: `mean`) or the product with the real-token indicator
 * (`rows`).
 */
export function tokenFront(model: tf.LayersModel): TokenFront | undefined {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return undefined;
  const [ids] = model.inputs;
  if (ids.shape.length !== 2 || ids.shape[1] === null) return undefined;
  const maxLength = ids.shape[1];
  const embeddings = model.layers.filter((layer) => classOf(layer) === 'Embedding');
  if (embeddings.length !== 1) return undefined;
  const [embedding] = embeddings;
  const config = configOf(embedding);
  if (embedding.inboundNodes.length !== 1 || config.maskZero || !embedding.trainable) return undefined;
  const [call] = embedding.inboundNodes;
  if (call.inputTensors[0]?.id !== ids.id || call.outputTensors.length !== 1) return undefined;
  const embedded = call.outputTensors[0];
  const after = consumers(model, embedded);
  if (after.length !== 1 || after[0].node.inputTensors.length !== 2 || after[0].node.outputTensors.length !== 1) return undefined;
  const { layer, node } = after[0];
  const [first, second] = node.inputTensors;
  let kind: TokenFrontKind;
  let cut: tf.SymbolicTensor;
  if (classOf(layer) === 'Multiply' && first.id === embedded.id && isRealTokens(second, ids)) {
    kind = 'rows';
    cut = node.outputTensors[0];
  } else if (classOf(layer) === 'Dot' && second.id === embedded.id && isDotOverPositions(layer) && isRealTokenWeights(first, ids)) {
    const flatten = consumers(model, node.outputTensors[0]);
    if (flatten.length !== 1 || classOf(flatten[0].layer) !== 'Flatten') return undefined;
    kind = 'mean';
    cut = flatten[0].node.outputTensors[0];
  } else {
    return undefined;
  }
  const fed = kind === 'rows' ? [ids, cut] : [cut];
  const run = layersFrom(model, fed);
  if (!run) return undefined;
  const table = embedding.trainableWeights[0];
  const [vocabSize, width] = table.shape as [number, number];
  return {
    kind,
    table,
    vocabSize,
    width,
    maxLength,
    output: cut,
    ids,
    head: (front, idValues) => {
      if (kind === 'mean') return run([front]) as tf.Tensor2D;
      if (!idValues) throw new Error("a 'rows' token front's head needs the token ids");
      return run([idValues, front]) as tf.Tensor2D;
    },
  };
}

/** A Dot layer that contracts the positions axis (1) of both inputs, unnormalised. */
function isDotOverPositions(layer: Layer): boolean {
  const { axes, normalize } = configOf(layer);
  return !normalize && (axes === 1 || (Array.isArray(axes) && axes[0] === 1 && axes[1] === 1));
}
