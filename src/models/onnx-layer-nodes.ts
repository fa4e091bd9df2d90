// The ONNX nodes of each tfjs layer class the export handles.
import type * as tf from '@tensorflow/tfjs';
import { DistillError } from '../errors.js';
import type { GraphBuilder } from './onnx-graph-builder.js';

/** A layer the ONNX export does not handle: the teacher runs on tfjs instead (or teacherRuntime 'onnxruntime' fails). */
export class UnsupportedLayerError extends DistillError {
  override name = 'UnsupportedLayerError';
  constructor(
    /** The layer's class (LSTM, Add, a custom class), or the model structure that is not a single path. */
    readonly layerClass: string,
    readonly layerName: string,
    why = 'has no ONNX export here',
  ) {
    super(`layer '${layerName}' (${layerClass}) ${why}`, ['teacherRuntime']);
  }
}

/** The image, dense and element-wise layer classes exportLayer handles: each has a case there. */
export const IMAGE_AND_DENSE_LAYERS = [
  'InputLayer',
  'Reshape',
  'Flatten',
  'Dense',
  'Conv2D',
  'DepthwiseConv2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'BatchNormalization',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'Softmax',
  'Dropout',
  'SpatialDropout1D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
] as const;

const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

type Config = Record<string, unknown>;

const SELU_ALPHA = 1.6732632423543772;
const SELU_GAMMA = 1.0507009873554805;

/** Appends the nodes of a tfjs activation (by its config name); element-wise, so any layout. */
export function activation(g: GraphBuilder, name: string, layer: tf.layers.Layer): void {
  switch (name) {
    case 'linear':
      return;
    case 'relu':
      g.op('Relu');
      return;
    case 'sigmoid':
      g.op('Sigmoid');
      return;
    case 'tanh':
      g.op('Tanh');
      return;
    case 'elu':
      g.op('Elu', [], { alpha: { float: 1 } });
      return;
    case 'selu':
      g.op('Selu', [], { alpha: { float: SELU_ALPHA }, gamma: { float: SELU_GAMMA } });
      return;
    case 'softplus':
      g.op('Softplus');
      return;
    case 'softsign':
      g.op('Softsign');
      return;
    case 'hardSigmoid':
      g.op('HardSigmoid', [], { alpha: { float: 0.2 }, beta: { float: 0.5 } });
      return;
    case 'relu6':
      g.op('Clip', [g.weight('min', [], [0]), g.weight('max', [], [6])]);
      return;
    case 'swish': {
      const x = g.value;
      g.op('Sigmoid');
      const sigmoid = g.value;
      g.value = x;
      g.op('Mul', [sigmoid]);
      return;
    }
    case 'softmax':
      g.toLayout('tfjs');
      g.op('Softmax', [], { axis: { int: -1 } });
      return;
    default:
      throw new UnsupportedLayerError(layer.getClassName(), layer.name, `uses the activation '${name}', which has no ONNX export here`);
  }
}

/** A layer's weight by the end of its name (kernel, bias, gamma, moving_mean, ...), or undefined. */
export function weightOf(layer: tf.layers.Layer, suffix: string): tf.Tensor | undefined {
  const at = layer.weights.findIndex((w) => w.originalName.endsWith(`/${suffix}`) || w.name.endsWith(`/${suffix}`));
  return at < 0 ? undefined : layer.getWeights()[at];
}

const pair = (value: unknown): [number, number] => (Array.isArray(value) ? [value[0], value[1]] : [value as number, value as number]);

/**
 * Pads [top, left, bottom, right] of a tfjs 'same' window (TensorFlow's rule: the odd pixel goes after),
 * or none for 'valid'.
 */
function pads(padding: unknown, size: [number, number], window: [number, number], strides: [number, number]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  const before: number[] = [];
  const after: number[] = [];
  for (let axis = 0; axis < 2; axis++) {
    const out = Math.ceil(size[axis] / strides[axis]);
    const total = Math.max((out - 1) * strides[axis] + window[axis] - size[axis], 0);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
  }
  return [...before, ...after];
}

function checkChannelsLast(layer: tf.layers.Layer, config: Config): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
    throw new UnsupportedLayerError(
      layer.getClassName(),
      layer.name,
      `uses dataFormat '${config.dataFormat}'; only channelsLast is exported`,
    );
  }
}

/** Conv2D or DepthwiseConv2D: an ONNX Conv on NCHW, weights as [out, in / group, kh, kw]. */
function convolution(g: GraphBuilder, layer: tf.layers.Layer, config: Config, depthwise: boolean): void {
  checkChannelsLast(layer, config);
  const kernel = weightOf(layer, depthwise ? 'depthwise_kernel' : 'kernel')!;
  const [kh, kw, inChannels, last] = kernel.shape;
  const outChannels = depthwise ? inChannels * last : last;
  const values = kernel.dataSync() as Float32Array;
  // tfjs [kh, kw, in, out] (depthwise: [kh, kw, in, multiplier], output channel c * multiplier + m).
  const w = new Float32Array(values.length);
  const inPerGroup = depthwise ? 1 : inChannels;
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < inChannels; c++)
        for (let o = 0; o < last; o++) {
          const from = ((i * kw + j) * inChannels + c) * last + o;
          const out = depthwise ? c * last + o : o;
          const within = depthwise ? 0 : c;
          w[((out * inPerGroup + within) * kh + i) * kw + j] = values[from];
        }
  const strides = pair(config.strides);
  const dilations = pair(config.dilationRate ?? 1);
  const size: [number, number] = [g.shape[1] as number, g.shape[2] as number];
  const window: [number, number] = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1];
  const inputs = [g.kernel('w', [outChannels, inPerGroup, kh, kw], w)];
  const bias = config.useBias === false ? undefined : weightOf(layer, 'bias');
  if (bias) inputs.push(g.weight('b', [outChannels], bias.dataSync() as Float32Array));
  g.toLayout('nchw');
  g.op('Conv', inputs, {
    kernel_shape: { ints: [kh, kw] },
    strides: { ints: strides },
    dilations: { ints: dilations },
    pads: { ints: pads(config.padding, size, window, strides) },
    group: { int: depthwise ? inChannels : 1 },
  });
  activation(g, String(config.activation ?? 'linear'), layer);
}

function pooling(g: GraphBuilder, layer: tf.layers.Layer, config: Config, opType: 'MaxPool' | 'AveragePool'): void {
  checkChannelsLast(layer, config);
  const window = pair(config.poolSize);
  const strides = pair(config.strides ?? config.poolSize);
  const size: [number, number] = [g.shape[1] as number, g.shape[2] as number];
  g.toLayout('nchw');
  // AveragePool's default count_include_pad = 0 leaves padding out of the mean, as tfjs does.
  g.op(opType, [], {
    kernel_shape: { ints: window },
    strides: { ints: strides },
    pads: { ints: pads(config.padding, size, window, strides) },
  });
}

function dense(g: GraphBuilder, layer: tf.layers.Layer, config: Config): void {
  const kernel = weightOf(layer, 'kernel')!;
  const bias = config.useBias === false ? undefined : weightOf(layer, 'bias');
  g.toLayout('tfjs');
  const w = g.kernel('w', kernel.shape, kernel.dataSync() as Float32Array);
  const b = bias && g.weight('b', bias.shape, bias.dataSync() as Float32Array);
  if (g.shape.length === 2) {
    g.op('Gemm', b ? [w, b] : [w]);
  } else {
    // Dense on a higher-rank input acts on the last axis, as MatMul does.
    g.op('MatMul', [w]);
    if (b) g.op('Add', [b]);
  }
  activation(g, String(config.activation ?? 'linear'), layer);
}

/** Inference batch normalisation as x * scale + shift per channel, in whichever layout the value is. */
function batchNorm(g: GraphBuilder, layer: tf.layers.Layer, config: Config): void {
  const axis = config.axis as number;
  if (axis !== -1 && axis !== g.shape.length - 1) {
    throw new UnsupportedLayerError(layer.getClassName(), layer.name, `normalises axis ${axis}; only the last (channel) axis is exported`);
  }
  const mean = weightOf(layer, 'moving_mean')!.dataSync();
  const variance = weightOf(layer, 'moving_variance')!.dataSync();
  const gamma = config.scale === false ? undefined : weightOf(layer, 'gamma')?.dataSync();
  const beta = config.center === false ? undefined : weightOf(layer, 'beta')?.dataSync();
  const epsilon = config.epsilon as number;
  const channels = mean.length;
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + epsilon);
    shift[c] = (beta ? beta[c] : 0) - mean[c] * scale[c];
  }
  const dims = g.layout === 'nchw' && g.shape.length === 4 ? [channels, 1, 1] : [channels];
  g.op('Mul', [g.weight('scale', dims, scale)]);
  g.op('Add', [g.weight('shift', dims, shift)]);
}

/** Appends one layer's nodes. */
export function exportLayer(g: GraphBuilder, layer: tf.layers.Layer): void {
  const kind = layer.getClassName();
  const config = layer.getConfig() as Config;
  if (IDENTITY_LAYERS.has(kind)) return;
  switch (kind) {
    case 'Reshape':
      g.toLayout('tfjs');
      {
        // 0 keeps the batch dimension.
        const target = [0, ...(config.targetShape as number[])];
        g.op('Reshape', [g.weight('shape', [target.length], target, 'int64')]);
        return;
      }
    case 'Flatten':
      g.toLayout('tfjs');
      g.op('Flatten', [], { axis: { int: 1 } });
      return;
    case 'Dense':
      dense(g, layer, config);
      return;
    case 'Conv2D':
      convolution(g, layer, config, false);
      return;
    case 'DepthwiseConv2D':
      convolution(g, layer, config, true);
      return;
    case 'MaxPooling2D':
      pooling(g, layer, config, 'MaxPool');
      return;
    case 'AveragePooling2D':
      pooling(g, layer, config, 'AveragePool');
      return;
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      checkChannelsLast(layer, config);
      g.toLayout('nchw');
      g.op(kind === 'GlobalMaxPooling2D' ? 'GlobalMaxPool' : 'GlobalAveragePool');
      g.op('Flatten', [], { axis: { int: 1 } });
      g.layout = 'tfjs';
      return;
    case 'BatchNormalization':
      batchNorm(g, layer, config);
      return;
    case 'Activation':
      activation(g, String(config.activation), layer);
      return;
    case 'ReLU':
      if (config.maxValue !== null && config.maxValue !== undefined) {
        g.op('Clip', [g.weight('min', [], [0]), g.weight('max', [], [config.maxValue as number])]);
        return;
      }
      g.op('Relu');
      return;
    case 'LeakyReLU':
      g.op('LeakyRelu', [], { alpha: { float: (config.alpha as number) ?? 0.3 } });
      return;
    case 'ELU':
      g.op('Elu', [], { alpha: { float: (config.alpha as number) ?? 1 } });
      return;
    case 'Softmax':
      if (config.axis !== -1 && config.axis !== g.shape.length - 1) {
        throw new UnsupportedLayerError(kind, layer.name, `takes the softmax over axis ${config.axis}; only the last axis is exported`);
      }
      activation(g, 'softmax', layer);
      return;
    default:
      throw new UnsupportedLayerError(kind, layer.name);
  }
}
