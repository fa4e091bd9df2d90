import tf from '../../tf.cjs';
import { type ArchitectureEntry, fixedWidths } from './architecture-entry.js';
import { realTokens, tokenEmbedding, tokenRows, zeroPadding } from './token-layers.js';

/** Tokens each filter of a cnn1d student sees at once. */
const CNN1D_KERNEL_WIDTH = 3;

/**
 * For token-id rows: an embedding of D values per token, a same-padded ReLU convolution of F filters over
 * CNN1D_KERNEL_WIDTH tokens, and the maximum of each filter over the real tokens. Padding is zeroed before
 * the convolution, so a real token next to padding sees what it sees at the row's end (zeros); and zeroed
 * after it, which leaves the maximum alone because ReLU outputs are >= 0.
 */
export const cnn1dArchitecture: ArchitectureEntry = {
  name: 'cnn1d',
  usage: 'cnn1d:D,F',
  arguments: 'embedding width, filters',
  example: 'cnn1d:64,128',
  description: `a 1-D convolutional net for token ids: D values per token, F filters over ${CNN1D_KERNEL_WIDTH} tokens, max over the real tokens`,
  rows: 'tokens',
  layers(args, context) {
    const [width, filters] = fixedWidths(args, context.spec, 2) ?? [];
    if (width === undefined) return undefined;
    const { maxLength } = tokenRows(context);
    const embedding = tokenEmbedding(context, width);
    const convolution = tf.layers.conv1d({
      filters,
      kernelSize: CNN1D_KERNEL_WIDTH,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: context.kernel(),
    });
    return (ids) => {
      const real = realTokens(ids, maxLength);
      const embedded = zeroPadding(embedding.apply(ids) as tf.SymbolicTensor, real);
      const features = zeroPadding(convolution.apply(embedded) as tf.SymbolicTensor, real);
      return tf.layers.globalMaxPooling1d().apply(features) as tf.SymbolicTensor;
    };
  },
};
