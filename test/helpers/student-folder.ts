import * as tf from '@tensorflow/tfjs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataSource } from '../../dist/data/data-source.js';
import type { Dataset } from '../../dist/data/dataset.js';
import { featureShape } from '../../dist/data/dataset.js';
import type { ImageContract, InputContract, TextContract } from '../../dist/data/input-contract.js';
import { buildModel } from '../../dist/models/architectures.js';
import { saveModel } from '../../dist/models/model-files.js';
import { saveQuantizedModel } from '../../dist/models/quantize.js';
import { loadTokenizer } from '../../dist/data/text/tokenizer-files.js';
import { digitRows } from './digits.js';
import { TOKENIZER_DIRS } from './tokenizer-fixtures.js';

/**
 * Student folders as a run writes them (OUT/student/: model.json + weights.bin, uint8/, classes.json,
 * preprocessing.json, the tokenizer files for text), made from a small model trained here with plain tfjs
 * `fit`, so that the entry point and `predict` are tested on a real folder layout.
 */

export const SPAM_JSONL = 'test/fixtures/text/spam.jsonl';
export const TEXT_MAX_LENGTH = 64;

/** A few epochs of softmax cross-entropy on the logits the families output. */
async function fitLogits(model: tf.LayersModel, rows: Dataset, scale: number, epochs: number): Promise<void> {
  model.compile({
    optimizer: tf.train.adam(0.01),
    loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
  });
  const xs = tf.tidy(() =>
    tf.tensor(
      Float32Array.from(rows.x, (v) => v * scale),
      rows.shape,
    ),
  );
  const ys = tf.oneHot(tf.tensor1d(rows.y, 'int32'), rows.numClasses);
  await model.fit(xs, ys, { epochs, batchSize: 32, shuffle: false, verbose: 0 });
  tf.dispose([xs, ys]);
}

async function writeFolder(dir: string, model: tf.LayersModel, classes: string[], contract: InputContract): Promise<void> {
  await mkdir(dir, { recursive: true });
  await saveModel(model, dir);
  await saveQuantizedModel(model, join(dir, 'uint8'), 'uint8');
  await writeFile(join(dir, 'classes.json'), `${JSON.stringify(classes)}\n`);
  await writeFile(join(dir, 'preprocessing.json'), `${JSON.stringify(contract, null, 2)}\n`);
}

/** Rows of pixels 0..255, as image files and IDX hold them (the bundled digits are floats in [0, 1]). */
export function asPixels(data: Dataset): Dataset {
  return { ...data, x: Uint8Array.from(data.x, (v) => Math.round(v * 255)) };
}

/** A digits student (mlp:32 on the first 600 training digits) in `dir`; returns the test rows (pixels 0..255). */
export async function writeDigitsStudent(dir: string, testRows = 200): Promise<Dataset> {
  const rows = await digitRows(600, testRows);
  const [train, test] = [asPixels(rows.train), asPixels(rows.test)];
  const model = buildModel('mlp:32', { inputShape: featureShape(train), numClasses: 10, seed: 3 });
  await fitLogits(model, train, 1 / 255, 3);
  const [height, width] = featureShape(train);
  const contract: ImageContract = {
    format: 'tfjs-distill/preprocessing',
    version: 1,
    kind: 'image',
    inputShape: featureShape(train),
    height,
    width,
    channels: 1,
    layout: 'hwc',
    scale: 1 / 255,
  };
  await writeFolder(
    dir,
    model,
    Array.from({ length: 10 }, (_, i) => String(i)),
    contract,
  );
  model.dispose();
  return test;
}

/**
 * A spam/ham student (bag:16 for the SpamAssassin fixture, tokenised by the Unigram fixture tokenizer; untrained) in
 * `dir`; returns the test split as the text data source tokenised it, and the class names.
 */
export async function writeSpamStudent(dir: string): Promise<{ test: Dataset; classes: string[] }> {
  await tf.setBackend('cpu');
  const tokenizer = TOKENIZER_DIRS.unigram;
  const splits = await loadDataSource({
    source: `text:${SPAM_JSONL}`,
    tokenizer,
    maxLength: TEXT_MAX_LENGTH,
    testFraction: 0.2,
    seed: 1,
    workers: 1,
  });
  const model = buildModel('bag:16', {
    inputShape: [TEXT_MAX_LENGTH],
    numClasses: splits.train.numClasses,
    vocabSize: splits.vocabSize,
    seed: 3,
  });
  // Left as built (seeded): an embedding's gradient on the cpu backend is too slow for a test, and the checks
  // on a text student are about its inputs (the token ids training made) and equal answers everywhere.
  const contract: TextContract = {
    format: 'tfjs-distill/preprocessing',
    version: 1,
    kind: 'text',
    inputShape: [TEXT_MAX_LENGTH],
    tokenizerFiles: ['tokenizer.json', 'tokenizer_config.json'],
    maxLength: TEXT_MAX_LENGTH,
    tokenizerPadId: loadTokenizer(tokenizer).padId,
    truncationSide: 'right',
    textField: 'text',
  };
  const classes = splits.classes ?? [];
  await writeFolder(dir, model, classes, contract);
  for (const file of contract.tokenizerFiles) await copyFile(join(tokenizer, file), join(dir, file));
  model.dispose();
  return { test: splits.test, classes };
}
