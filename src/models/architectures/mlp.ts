import tf from '../../tf.cjs';
import { type ArchitectureEntry, widthList } from './architecture-entry.js';

/** Flattens the input, then dense ReLU layers of the given widths. */
export const mlpArchitecture: ArchitectureEntry = {
  name: 'mlp',
  usage: 'mlp:W1,W2,...',
  arguments: 'hidden layer widths',
  example: 'mlp:64',
  description: 'a multilayer perceptron: the row flattened, then dense ReLU layers of these widths',
  rows: 'any',
  layers(args, { spec, inputShape, kernel }) {
    const widths = widthList(args, spec);
    if (!widths) return undefined;
    const flatten = inputShape.length > 1 ? [tf.layers.flatten()] : [];
    return [...flatten, ...widths.map((units) => tf.layers.dense({ units, activation: 'relu', kernelInitializer: kernel() }))];
  },
};
