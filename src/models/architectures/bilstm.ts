import tf from '../../tf.cjs';
import { type ArchitectureEntry, fixedWidths } from './architecture-entry.js';
import { tokenEmbedding } from './token-layers.js';

/**
 * For token-id rows: an embedding of D values per token whose padding mask (maskZero) reaches a
 * bidirectional LSTM of H units a direction. The LSTM keeps its state over masked steps, so each direction
 * ends on its last real token whatever the padding.
 */
export const bilstmArchitecture: ArchitectureEntry = {
  name: 'bilstm',
  usage: 'bilstm:D,H',
  arguments: 'embedding width, LSTM units a direction',
  example: 'bilstm:64,64',
  description: 'a bidirectional LSTM for token ids: D values per token, H units a direction, padding masked',
  rows: 'tokens',
  layers(args, context) {
    const [width, units] = fixedWidths(args, context.spec, 2) ?? [];
    if (width === undefined) return undefined;
    const embedding = tokenEmbedding(context, width, true);
    // Seeded initializers throughout: tfjs's default orthogonal recurrent initializer is not seeded.
    const lstm = tf.layers.lstm({ units, kernelInitializer: context.kernel(), recurrentInitializer: context.kernel() });
    const bidirectional = tf.layers.bidirectional({ layer: lstm as tf.RNN, mergeMode: 'concat' });
    return (ids) => {
      const both = bidirectional.apply(embedding.apply(ids)) as tf.SymbolicTensor;
      // tfjs builds the backward LSTM from the forward one's config, seeds included, so both would start
      // alike: the backward kernels get seeds of their own. The weights are the forward kernel, recurrent
      // kernel and bias, then the backward ones.
      const [kernel, recurrent, bias] = bidirectional.getWeights().slice(3);
      const fresh = [kernel, recurrent].map((weight) => context.kernel().apply(weight.shape));
      bidirectional.setWeights([...bidirectional.getWeights().slice(0, 3), ...fresh, bias]);
      tf.dispose(fresh);
      return both;
    };
  },
};
