// The ONNX nodes of the tfjs layers that work on sequences of steps ([batch, steps, width]): token
// embeddings, 1-D convolutions and pools, and LSTMs, one-way or bidirectional.
import type * as tf from '@tensorflow/tfjs';
import type { GraphBuilder } from './onnx-graph-builder.js';
import { UnsupportedLayerError, activation, weightOf } from './onnx-layer-nodes.js';

/** The sequence layer classes this file exports. */
export const SEQUENCE_LAYERS = ['Embedding', 'Conv1D', 'GlobalMaxPooling1D', 'GlobalAveragePooling1D', 'LSTM', 'Bidirectional'] as const;

type Config = Record<string, unknown>;

/** ONNX TensorProto data types, for Cast. */
const INT32 = 6;
const INT64 = 7;
const FLOAT = 1;

/**
 * Embedding as Gather on its table. Token ids arrive as float32 (as tfjs takes them), cast to int64 here;
 * with maskZero, the mask tfjs derives (id != 0) travels with the embedded value.
 */
function embedding(g: GraphBuilder, layer: tf.layers.Layer, config: Config): void {
  const table = weightOf(layer, 'embeddings')!;
  const ids = g.value;
  const indices = g.apply('Cast', [ids], { to: { int: INT64 } });
  g.value = g.apply('Gather', [g.kernel('embeddings', table.shape, table.dataSync() as Float32Array), indices], { axis: { int: 0 } });
  if (config.maskZero) {
    const padding = g.apply('Equal', [ids, g.weight('zero', [], [0])]);
    g.mask = g.apply('Cast', [g.apply('Not', [padding])], { to: { int: FLOAT } });
  }
}

/** Pads [before, after] of a 1-D window: TensorFlow's 'same' (the odd step after), 'causal' (all before) or none. */
function pads1d(padding: unknown, steps: number, window: number, stride: number): number[] {
  if (padding === 'valid') return [0, 0];
  if (padding === 'causal') return [window - 1, 0];
  const out = Math.ceil(steps / stride);
  const total = Math.max((out - 1) * stride + window - steps, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

const single = (value: unknown): number => (Array.isArray(value) ? value[0] : (value as number));

/** Conv1D as an ONNX Conv on [batch, width, steps]: weights [out, in, k] from tfjs's [k, in, out]. */
function conv1d(g: GraphBuilder, layer: tf.layers.Layer, config: Config): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
    throw new UnsupportedLayerError(
      layer.getClassName(),
      layer.name,
      `uses dataFormat '${config.dataFormat}'; only channelsLast is exported`,
    );
  }
  const kernel = weightOf(layer, 'kernel')!;
  const [k, inChannels, outChannels] = kernel.shape;
  const values = kernel.dataSync() as Float32Array;
  const w = new Float32Array(values.length);
  for (let i = 0; i < k; i++)
    for (let c = 0; c < inChannels; c++)
      for (let o = 0; o < outChannels; o++) w[(o * inChannels + c) * k + i] = values[(i * inChannels + c) * outChannels + o];
  const stride = single(config.strides ?? 1);
  const dilation = single(config.dilationRate ?? 1);
  const inputs = [g.kernel('w', [outChannels, inChannels, k], w)];
  const bias = config.useBias === false ? undefined : weightOf(layer, 'bias');
  if (bias) inputs.push(g.weight('b', [outChannels], bias.dataSync() as Float32Array));
  const pads = pads1d(config.padding, g.shape[1] as number, (k - 1) * dilation + 1, stride);
  g.op('Transpose', [], { perm: { ints: [0, 2, 1] } });
  g.op('Conv', inputs, { kernel_shape: { ints: [k] }, strides: { ints: [stride] }, dilations: { ints: [dilation] }, pads: { ints: pads } });
  g.op('Transpose', [], { perm: { ints: [0, 2, 1] } });
  activation(g, String(config.activation ?? 'linear'), layer);
}

/** ONNX LSTM's gates are i, o, f, c; tfjs's kernels hold i, f, c, o: the tfjs gate of each ONNX gate. */
const TFJS_GATE = [0, 3, 1, 2];

/** tfjs activations as ONNX LSTM names them, with HardSigmoid's alpha and beta (tfjs's slope and offset). */
const LSTM_ACTIVATIONS: Record<string, { name: string; alpha?: number; beta?: number }> = {
  sigmoid: { name: 'Sigmoid' },
  hardSigmoid: { name: 'HardSigmoid', alpha: 0.2, beta: 0.5 },
  tanh: { name: 'Tanh' },
  relu: { name: 'Relu' },
};

/** One direction's weights in ONNX's layout: W [4H, D], R [4H, H] and B [8H] (the recurrent bias is 0). */
function lstmWeights(lstm: tf.layers.Layer, config: Config): { w: Float32Array; r: Float32Array; b: Float32Array } {
  const [kernel, recurrent, bias] = lstm.getWeights();
  const units = config.units as number;
  const reorder = (matrix: tf.Tensor) => {
    const [rows] = matrix.shape;
    const values = matrix.dataSync() as Float32Array;
    const out = new Float32Array(values.length);
    for (let gate = 0; gate < 4; gate++)
      for (let u = 0; u < units; u++)
        for (let d = 0; d < rows; d++) out[(gate * units + u) * rows + d] = values[d * 4 * units + TFJS_GATE[gate] * units + u];
    return out;
  };
  const b = new Float32Array(8 * units);
  if (config.useBias !== false && bias) {
    const values = bias.dataSync() as Float32Array;
    for (let gate = 0; gate < 4; gate++) for (let u = 0; u < units; u++) b[gate * units + u] = values[TFJS_GATE[gate] * units + u];
  }
  return { w: reorder(kernel), r: reorder(recurrent), b };
}

/** Refuses the LSTM settings the export does not reproduce. */
function checkLstm(layer: tf.layers.Layer, lstm: tf.layers.Layer, config: Config): void {
  const refuse = (why: string) => {
    throw new UnsupportedLayerError(layer.getClassName(), layer.name, why);
  };
  if (lstm.getClassName() !== 'LSTM') refuse(`wraps a ${lstm.getClassName()}; only LSTM is exported`);
  if (config.returnSequences) refuse('returns sequences; only the last output (returnSequences false) is exported');
  if (config.returnState) refuse('returns its state; export a model that uses its output alone');
  if (config.stateful) refuse('is stateful; only stateless LSTMs are exported');
  for (const key of ['activation', 'recurrentActivation'])
    if (!(String(config[key]) in LSTM_ACTIVATIONS))
      refuse(`uses the ${key} '${config[key]}'; exported LSTMs take ${Object.keys(LSTM_ACTIVATIONS).join(', ')}`);
}

/**
 * Moves each row's real steps (mask 1) to the front, in order, and returns their count per row (int32).
 * tfjs's LSTM keeps its state over a masked step wherever it lies, which is the same as running over the
 * real steps alone; ONNX LSTM's sequence_lens runs over the first steps of each row, so they go there.
 */
function packRealSteps(g: GraphBuilder, mask: string, steps: number): string {
  // Real step t scores 2 * steps - t and masked step t scores -t: sorting by score keeps each group in order.
  const positions = g.weight(
    'positions',
    [steps],
    Array.from({ length: steps }, (_, t) => t),
  );
  const scores = g.apply('Sub', [g.apply('Mul', [mask, g.weight('real_score', [], [2 * steps])]), positions]);
  g.apply('TopK', [scores, g.weight('steps', [1], [steps], 'int64')], { axis: { int: 1 }, largest: { int: 1 }, sorted: { int: 1 } });
  // TopK's second output holds the indices.
  const indices = g.fresh('indices');
  g.nodes[g.nodes.length - 1].outputs.push(indices);
  const expanded = g.apply('Expand', [g.apply('Unsqueeze', [indices, g.weight('axis', [1], [2], 'int64')]), g.apply('Shape', [g.value])]);
  g.value = g.apply('GatherElements', [g.value, expanded], { axis: { int: 1 } });
  const counts = g.apply('ReduceSum', [mask, g.weight('axis', [1], [1], 'int64')], { keepdims: { int: 0 } });
  return g.apply('Cast', [counts], { to: { int: INT32 } });
}

/**
 * An LSTM, or a Bidirectional wrapper of one (merged by concatenation), as one ONNX LSTM whose last hidden
 * state is the layer's output. A mask from the embedding turns into per-row lengths (packRealSteps).
 */
function lstm(g: GraphBuilder, layer: tf.layers.Layer, config: Config): void {
  const bidirectional = layer.getClassName() === 'Bidirectional';
  const wrapped = layer as unknown as { forwardLayer: tf.layers.Layer; backwardLayer: tf.layers.Layer };
  const directions = bidirectional ? [wrapped.forwardLayer, wrapped.backwardLayer] : [layer];
  const lstmConfig = directions[0].getConfig() as Config;
  checkLstm(layer, directions[0], lstmConfig);
  if (bidirectional && config.mergeMode !== 'concat') {
    throw new UnsupportedLayerError(
      layer.getClassName(),
      layer.name,
      `merges its directions by '${config.mergeMode}'; only concat is exported`,
    );
  }
  const units = lstmConfig.units as number;
  const [, steps, width] = g.shape as number[];
  const weights = directions.map((direction) => lstmWeights(direction, lstmConfig));
  const joined = (part: 'w' | 'r' | 'b') => Float32Array.from(weights.flatMap((w) => Array.from(w[part])));
  const lengths = g.mask ? packRealSteps(g, g.mask, steps) : '';
  const gates = [lstmConfig.recurrentActivation, lstmConfig.activation, lstmConfig.activation].map(
    (name) => LSTM_ACTIVATIONS[String(name)],
  );
  const perDirection = directions.flatMap(() => gates);
  const withAlpha = perDirection.filter((a) => a.alpha !== undefined);
  const attributes: Parameters<GraphBuilder['op']>[2] = {
    hidden_size: { int: units },
    direction: { string: bidirectional ? 'bidirectional' : lstmConfig.goBackwards ? 'reverse' : 'forward' },
    activations: { strings: perDirection.map((a) => a.name) },
  };
  if (withAlpha.length > 0) {
    attributes.activation_alpha = { floats: withAlpha.map((a) => a.alpha!) };
    attributes.activation_beta = { floats: withAlpha.map((a) => a.beta!) };
  }
  const time = g.apply('Transpose', [g.value], { perm: { ints: [1, 0, 2] } });
  const inputs = [
    time,
    g.kernel('w', [directions.length, 4 * units, width], joined('w')),
    g.kernel('r', [directions.length, 4 * units, units], joined('r')),
    g.weight('b', [directions.length, 8 * units], joined('b')),
    lengths,
  ];
  g.apply('LSTM', lengths ? inputs : inputs.slice(0, 4), attributes);
  // Y_h, [directions, batch, units], is the second output; the first (every step's output) is not needed.
  const last = g.fresh('y_h');
  g.nodes[g.nodes.length - 1].outputs = ['', last];
  g.value = g.apply('Transpose', [last], { perm: { ints: [1, 0, 2] } });
  g.op('Reshape', [g.weight('shape', [2], [0, directions.length * units], 'int64')]);
  g.mask = undefined;
}

/** Appends a sequence layer's nodes; false when `layer` is not one of SEQUENCE_LAYERS. */
export function exportSequenceLayer(g: GraphBuilder, layer: tf.layers.Layer): boolean {
  const config = layer.getConfig() as Config;
  switch (layer.getClassName()) {
    case 'Embedding':
      embedding(g, layer, config);
      return true;
    case 'Conv1D':
      conv1d(g, layer, config);
      return true;
    case 'GlobalMaxPooling1D':
    case 'GlobalAveragePooling1D':
      if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
        throw new UnsupportedLayerError(
          layer.getClassName(),
          layer.name,
          `uses dataFormat '${config.dataFormat}'; only channelsLast is exported`,
        );
      }
      g.op(layer.getClassName() === 'GlobalMaxPooling1D' ? 'ReduceMax' : 'ReduceMean', [], { axes: { ints: [1] }, keepdims: { int: 0 } });
      return true;
    case 'LSTM':
    case 'Bidirectional':
      lstm(g, layer, config);
      return true;
    default:
      return false;
  }
}
