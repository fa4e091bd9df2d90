import * as tf from '@tensorflow/tfjs';
import { check } from '../errors.js';
import { architectureOf, listArchitectures, unknownArchitectureMessage } from './architectures/registry.js';

export type { ArchitectureContext, ArchitectureEntry } from './architectures/architecture-entry.js';
export { type ArchitectureListing, isArchitectureSpec, listArchitectures } from './architectures/registry.js';

/** Options for {@link buildModel}. */
export interface BuildModelOptions {
  /** Shape of one input row, e.g. [28, 28] for MNIST images or [4] for a 4-column CSV. */
  inputShape: number[];
  /** Number of output classes (units of the final layer, which outputs logits). */
  numClasses: number;
  /** Seed for the initial weights; the same seed builds the same model. Default 1. */
  seed?: number;
}

/**
 * Builds one of the registered architectures (listArchitectures(); each is a file in architectures/),
 * outputting logits (no softmax):
 * - `mlp:W1,W2,...` flattens the input, then dense ReLU layers of the given widths;
 * - `cnn:F1,F2,...` for image rows [H, W] or [H, W, C]: per entry a 3x3 same-padded ReLU convolution with
 *   that many filters and a 2x2 max-pool, then a dense ReLU layer of 128 units.
 * Weights are initialised from `seed` (Glorot-uniform kernels, zero biases).
 */
export function buildModel(spec: string, options: BuildModelOptions): tf.LayersModel {
  const { inputShape, numClasses } = options;
  const named = architectureOf(spec.trim());
  check(named, unknownArchitectureMessage(spec));
  const { entry, args } = named;
  check(
    entry.rows === 'any' || inputShape.length === 2 || inputShape.length === 3,
    `architecture '${spec}' needs image rows of shape [H, W] or [H, W, C], but the rows have shape [${inputShape}]; ` +
      `use an ${listArchitectures()
        .filter((family) => family.rows === 'any')
        .map((family) => family.name)
        .join(' or ')} architecture`,
  );
  let seed = options.seed ?? 1;
  const kernel = () => tf.initializers.glorotUniform({ seed: seed++ });
  const body = entry.layers(args, { spec, inputShape, kernel });
  check(body, unknownArchitectureMessage(spec));
  const model = tf.sequential({ name: spec.replace(/[^a-z0-9]+/gi, '_') });
  model.add(tf.layers.inputLayer({ inputShape }));
  for (const layer of body) model.add(layer);
  model.add(tf.layers.dense({ units: numClasses, kernelInitializer: kernel() }));
  return model;
}
