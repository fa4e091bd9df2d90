import type * as tf from '@tensorflow/tfjs';
import { type ArchitectureEntry, fixedWidths } from './architecture-entry.js';
import { meanOverRealTokens, realTokens, tokenEmbedding, tokenRows } from './token-layers.js';

/** For token-id rows: an embedding of D values per token, then its mean over the row's real tokens. */
export const bagArchitecture: ArchitectureEntry = {
  name: 'bag',
  usage: 'bag:D',
  arguments: 'embedding width',
  example: 'bag:64',
  description: 'a bag of embeddings for token ids: D values per token, averaged over the real tokens (padding left out)',
  rows: 'tokens',
  layers(args, context) {
    const [width] = fixedWidths(args, context.spec, 1) ?? [];
    if (width === undefined) return undefined;
    const { maxLength } = tokenRows(context);
    const embedding = tokenEmbedding(context, width);
    return (ids) => meanOverRealTokens(embedding.apply(ids) as tf.SymbolicTensor, realTokens(ids, maxLength), maxLength);
  },
};
