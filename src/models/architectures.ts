import * as tf from '@tensorflow/tfjs';
import { check } from '../errors.js';

/** Options for {@link buildModel}. */
export interface BuildModelOptions {
  /** Shape of one input row, e.g. [28, 28] for MNIST images or [4] for a 4-column CSV. */
  inputShape: number[];
  /** Number of output classes (units of the final layer, which outputs logits). */
  numClasses: number;
  /** Seed for the initial weights; the same seed builds the same model. Default 1. */
  seed?: number;
}

interface Architecture {
  kind: 'mlp' | 'cnn';
  widths: number[];
}

/** Units of the dense layer between a CNN's convolutions and its output. */
const CNN_DENSE_UNITS = 128;

const ARCHITECTURE_HELP = "use 'mlp:W1,W2,...' (hidden layer widths) or 'cnn:F1,F2,...' (conv filters per block)";

function parseArchitecture(spec: string): Architecture {
  const match = /^(mlp|cnn):(\d+(?:,\d+)*)$/.exec(spec.trim());
  check(match, `unknown architecture '${spec}': ${ARCHITECTURE_HELP}, e.g. mlp:64 or cnn:32,64`);
  const widths = match[2].split(',').map(Number);
  check(
    widths.every((w) => w >= 1),
    `architecture '${spec}' has a layer of width 0: every width must be >= 1`,
  );
  return { kind: match[1] as Architecture['kind'], widths };
}

/**
 * Builds one of the built-in architectures, outputting logits (no softmax):
 * - `mlp:W1,W2,...` flattens the input, then dense ReLU layers of the given widths;
 * - `cnn:F1,F2,...` for image rows [H, W] or [H, W, C]: per entry a 3x3 same-padded ReLU convolution with
 *   that many filters and a 2x2 max-pool, then a dense ReLU layer of 128 units.
 * Weights are initialised from `seed` (Glorot-uniform kernels, zero biases).
 */
export function buildModel(spec: string, options: BuildModelOptions): tf.LayersModel {
  const arch = parseArchitecture(spec);
  const { inputShape, numClasses } = options;
  let seed = options.seed ?? 1;
  const kernel = () => tf.initializers.glorotUniform({ seed: seed++ });
  const model = tf.sequential({ name: spec.replace(/[^a-z0-9]+/gi, '_') });
  model.add(tf.layers.inputLayer({ inputShape }));
  if (arch.kind === 'mlp') {
    if (inputShape.length > 1) model.add(tf.layers.flatten());
    for (const units of arch.widths) {
      model.add(tf.layers.dense({ units, activation: 'relu', kernelInitializer: kernel() }));
    }
  } else {
    check(
      inputShape.length === 2 || inputShape.length === 3,
      `architecture '${spec}' needs image rows of shape [H, W] or [H, W, C], but the rows have shape [${inputShape}]; ` +
        'use an mlp architecture',
    );
    const [height, width] = inputShape;
    check(
      height >> arch.widths.length >= 1 && width >> arch.widths.length >= 1,
      `architecture '${spec}' has ${arch.widths.length} pooling blocks, too many for ${height}x${width} images: use fewer conv entries`,
    );
    if (inputShape.length === 2) model.add(tf.layers.reshape({ targetShape: [...inputShape, 1] }));
    for (const filters of arch.widths) {
      model.add(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: kernel() }));
      model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    }
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: CNN_DENSE_UNITS, activation: 'relu', kernelInitializer: kernel() }));
  }
  model.add(tf.layers.dense({ units: numClasses, kernelInitializer: kernel() }));
  return model;
}
