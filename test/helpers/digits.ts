import * as tf from '@tensorflow/tfjs';
import { type Dataset, takeRows } from '../../dist/data/dataset.js';
import { loadMnist } from '../../dist/data/mnist.js';

/** The first rows of the bundled MNIST digits' training and test splits, with the main thread on the cpu backend. */
export async function digitRows(trainRows: number, testRows: number): Promise<{ train: Dataset; test: Dataset }> {
  await tf.setBackend('cpu');
  const digits = await loadMnist();
  return { train: takeRows(digits.train, trainRows), test: takeRows(digits.test, testRows) };
}
