import { loadIdx } from '../idx.js';
import { imageContract } from '../source-contracts.js';
import { type DataSourceEntry, withSharedClassCount } from './source-entry.js';

export const idxSource: DataSourceEntry = {
  kind: 'idx',
  usage: 'idx:DIR',
  description: 'a folder in the MNIST layout (train-images-idx3-ubyte and the rest, .gz ok), with its own test split',
  argument: 'path',
  settings: [],
  async load(dir) {
    const [train, test] = await Promise.all([loadIdx(dir, 'train'), loadIdx(dir, 'test')]);
    // uint8 pixels, which the run scales by 1/255.
    return { ...withSharedClassCount(train, test), contract: imageContract(train.shape.slice(1)) };
  },
};
