import tf from '../tf.cjs';
import { check } from '../errors.js';
import type { ArchitectureEntry } from './architectures/architecture-entry.js';
import { architectureOf, familiesFor, unknownArchitectureMessage } from './architectures/registry.js';

export type { ArchitectureBody, ArchitectureContext, ArchitectureEntry } from './architectures/architecture-entry.js';
export { type ArchitectureListing, isArchitectureSpec, listArchitectures } from './architectures/registry.js';

/** Options for {@link buildModel}. */
export interface BuildModelOptions {
  /** Shape of one input row, e.g. [28, 28] for MNIST images, [4] for a 4-column CSV, [128] for 128 token ids. */
  inputShape: number[];
  /** Number of output classes (units of the final layer, which outputs logits). */
  numClasses: number;
  /**
   * For token-id rows only (the text families bag, cnn1d and bilstm): the number of token ids, padding's
   * id 0 included. Setting it says that the rows are token ids, which the other families refuse.
   */
  vocabSize?: number;
  /** Seed for the initial weights; the same seed builds the same model. Default 1. */
  seed?: number;
}

/**
 * Builds one of the registered architectures (listArchitectures(); each is a file in architectures/),
 * outputting logits (no softmax):
 * - `mlp:W1,W2,...` flattens the input, then dense ReLU layers of the given widths;
 * - `cnn:F1,F2,...` for image rows [H, W] or [H, W, C]: per entry a 3x3 same-padded ReLU convolution with
 *   that many filters and a 2x2 max-pool, then a dense ReLU layer of 128 units;
 * - `bag:D`, `cnn1d:D,F` and `bilstm:D,H` for token-id rows [maxLength] (0 for padding; needs `vocabSize`):
 *   an embedding of D values per token, then its mean over the real tokens, a ReLU convolution of F filters
 *   with a max over the real tokens, or a bidirectional LSTM of H units a direction. Padding does not change
 *   their logits, and they are made of stock tfjs layers, so stock tfjs loads them.
 * Weights are initialised from `seed` (Glorot-uniform kernels and embeddings, zero biases).
 */
export function buildModel(spec: string, options: BuildModelOptions): tf.LayersModel {
  const { inputShape, numClasses, vocabSize } = options;
  const named = architectureOf(spec.trim());
  check(named, unknownArchitectureMessage(spec));
  const { entry, args } = named;
  checkRows(spec, entry.rows, inputShape, vocabSize);
  let seed = options.seed ?? 1;
  const kernel = () => tf.initializers.glorotUniform({ seed: seed++ });
  const body = entry.layers(args, { spec, inputShape, vocabSize, kernel });
  check(body, unknownArchitectureMessage(spec));
  const name = spec.replace(/[^a-z0-9]+/gi, '_');
  if (Array.isArray(body)) {
    const model = tf.sequential({ name });
    model.add(tf.layers.inputLayer({ inputShape }));
    for (const layer of body) model.add(layer);
    model.add(tf.layers.dense({ units: numClasses, kernelInitializer: kernel() }));
    return model;
  }
  const input = tf.input({ shape: inputShape });
  const hidden = body(input); // before the output layer takes its seed
  const logits = tf.layers.dense({ units: numClasses, kernelInitializer: kernel() }).apply(hidden) as tf.SymbolicTensor;
  return tf.model({ name, inputs: input, outputs: logits });
}

/** Refuses rows the family does not take: token ids for feature and image families, and the reverse. */
function checkRows(spec: string, rows: ArchitectureEntry['rows'], inputShape: number[], vocabSize: number | undefined): void {
  if (rows === 'tokens') {
    check(
      vocabSize !== undefined,
      `architecture '${spec}' takes token-id rows and needs vocabSize, the number of token ids (0 for padding); ` +
        `for feature or image rows use ${familiesFor(['any', 'images'])}`,
    );
    check(
      Number.isInteger(vocabSize) && vocabSize >= 2,
      `vocabSize must be a whole number >= 2 (ids 0 to vocabSize - 1), got ${vocabSize}`,
    );
    check(
      inputShape.length === 1,
      `architecture '${spec}' needs token-id rows of shape [maxLength], but the rows have shape [${inputShape}]`,
    );
    return;
  }
  check(
    vocabSize === undefined,
    `architecture '${spec}' takes feature or image rows, but vocabSize says the rows are token ids; use a ${familiesFor(['tokens'])} architecture`,
  );
  check(
    rows === 'any' || inputShape.length === 2 || inputShape.length === 3,
    `architecture '${spec}' needs image rows of shape [H, W] or [H, W, C], but the rows have shape [${inputShape}]; ` +
      `use an ${familiesFor(['any'])} architecture`,
  );
}
