import * as tf from '@tensorflow/tfjs';
import { type Dataset, takeRows } from '../../dist/data/dataset.js';
import { loadMnist } from '../../dist/data/mnist.js';

/** The first rows of the bundled MNIST digits' training and test splits, with the main thread on the cpu backend. */
export async function digitRows(trainRows: number, testRows: number): Promise<{ train: Dataset; test: Dataset }> {
  await tf.setBackend('cpu');
  const digits = await loadMnist();
  return { train: takeRows(digits.train, trainRows), test: takeRows(digits.test, testRows) };
}

/**
 * Fits `model` (which outputs logits) to `rows` of the digits on this thread, scaled as a run scales them (uint8
 * pixels by 1/255): Adam at 0.01, softmax cross-entropy on the logits (Keras' sparse loss would read them as
 * probabilities), no shuffling, so the model is the same on every run.
 */
export async function fitOnDigits(model: tf.LayersModel, rows: Dataset, epochs: number): Promise<void> {
  model.compile({
    optimizer: tf.train.adam(0.01),
    loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
  });
  const pixels = rows.x instanceof Uint8Array ? Float32Array.from(rows.x, (v) => v / 255) : Float32Array.from(rows.x);
  const xs = tf.tensor(pixels, rows.shape);
  const ys = tf.oneHot(tf.tensor1d(rows.y, 'int32'), 10);
  await model.fit(xs, ys, { epochs, shuffle: false, verbose: 0 });
  tf.dispose([xs, ys]);
}
