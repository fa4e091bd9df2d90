// Building blocks shared by the families that take token-id rows ([maxLength] ids, 0 for padding). Each is
// made of stock tfjs layers only, so that stock @tensorflow/tfjs loads a saved student with no custom code,
// and each keeps padding out of the answer: a text's logits do not depend on how much padding its batch had.
import tf from '../../tf.cjs';
import { check } from '../../errors.js';
import type { ArchitectureContext } from './architecture-entry.js';

/**
 * What a padding position scores before the softmax over positions: far enough below a real token's 0 that
 * its weight is exactly 0 in float32, while a row of padding alone still gets finite, equal weights.
 */
export const PADDING_SCORE = -1e4;

/** The sequence length and vocabulary size of token-id rows; buildModel checks both before a family builds. */
export function tokenRows({ spec, inputShape, vocabSize }: ArchitectureContext): { maxLength: number; vocabSize: number } {
  check(vocabSize !== undefined && inputShape.length === 1, `architecture '${spec}' needs token-id rows [maxLength] and a vocabSize`);
  return { maxLength: inputShape[0], vocabSize };
}

/** A seeded embedding of `width` values per token id; `maskZero` passes a padding mask on to the layers after it. */
export function tokenEmbedding(context: ArchitectureContext, width: number, maskZero = false): tf.layers.Layer {
  const { vocabSize } = tokenRows(context);
  return tf.layers.embedding({ inputDim: vocabSize, outputDim: width, embeddingsInitializer: context.kernel(), maskZero });
}

/**
 * [batch, maxLength, 1]: 1 where the row has a real token, 0 where it has padding (id 0). Ids are whole
 * numbers >= 0, so clipping them to [0, 1] is exactly that indicator.
 */
export function realTokens(ids: tf.SymbolicTensor, maxLength: number): tf.SymbolicTensor {
  const indicator = tf.layers.reLU({ maxValue: 1, name: 'real_tokens' }).apply(ids) as tf.SymbolicTensor;
  return tf.layers.reshape({ targetShape: [maxLength, 1] }).apply(indicator) as tf.SymbolicTensor;
}

/** `values` [batch, maxLength, width] with every padding position set to 0 (and no gradient flowing there). */
export function zeroPadding(values: tf.SymbolicTensor, real: tf.SymbolicTensor): tf.SymbolicTensor {
  return tf.layers.multiply().apply([values, real]) as tf.SymbolicTensor;
}

/**
 * The mean of `vectors` [batch, maxLength, width] over each row's real tokens, [batch, width]. Padding
 * scores PADDING_SCORE and a real token 0 (a fixed, untrained dense layer on the indicator); the softmax of
 * the scores over the positions is then 1/n on a row's n real tokens and exactly 0 on its padding, and the
 * weighted sum of the vectors is their mean over the real tokens. GlobalAveragePooling1D would instead
 * divide by maxLength, padding included.
 */
export function meanOverRealTokens(vectors: tf.SymbolicTensor, real: tf.SymbolicTensor, maxLength: number): tf.SymbolicTensor {
  const scores = tf.layers
    .dense({
      units: 1,
      kernelInitializer: tf.initializers.constant({ value: -PADDING_SCORE }),
      biasInitializer: tf.initializers.constant({ value: PADDING_SCORE }),
      trainable: false,
      name: 'padding_scores',
    })
    .apply(real) as tf.SymbolicTensor;
  // tfjs's softmax takes the last axis only, so the positions go there and back.
  const flat = tf.layers.reshape({ targetShape: [maxLength] }).apply(scores);
  const weights = tf.layers.softmax({ name: 'token_weights' }).apply(flat);
  const column = tf.layers.reshape({ targetShape: [maxLength, 1] }).apply(weights) as tf.SymbolicTensor;
  const mean = tf.layers.dot({ axes: 1 }).apply([column, vectors]);
  return tf.layers.flatten().apply(mean) as tf.SymbolicTensor;
}
