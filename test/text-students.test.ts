import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, listArchitectures } from '../dist/index.js';
import { modelFromData, modelJson, modelToData } from '../dist/models/model-data.js';

const VOCAB = 30;
const CLASSES = 3;
/** The text families, tiny. */
const SPECS = ['bag:8', 'cnn1d:8,6', 'bilstm:8,5'] as const;
/** Token ids (no padding) of a few texts of different lengths, one of them a single token. */
const TEXTS = [[5, 9, 3, 7], [12], [4, 4, 8, 2, 6, 11, 3, 29, 1], [17, 2]];

const padded = (texts: number[][], length: number) =>
  tf.tensor2d(
    texts.map((ids) => [...ids, ...new Array(length - ids.length).fill(0)]),
    [texts.length, length],
  );

/** The family built for rows of `length` tokens, with the weights of `like` (none of them depends on the length). */
function atLength(spec: string, length: number, like?: tf.LayersModel): tf.LayersModel {
  const model = buildModel(spec, { inputShape: [length], numClasses: CLASSES, vocabSize: VOCAB, seed: 4 });
  if (like) model.setWeights(like.getWeights());
  return model;
}

const logitsOf = (model: tf.LayersModel, x: tf.Tensor) => tf.tidy(() => (model.predict(x) as tf.Tensor).arraySync() as number[][]);

function expectClose(actual: number[][], expected: number[][], what: string) {
  const worst = Math.max(...actual.flatMap((row, i) => row.map((v, j) => Math.abs(v - expected[i][j]))));
  expect(worst, what).toBeLessThan(1e-5);
}

/** A model after a few Adam steps on the texts, so that its weights (the padding embedding's too) have moved. */
async function trained(spec: string, length: number): Promise<tf.LayersModel> {
  const model = atLength(spec, length);
  const optimizer = tf.train.adam(0.05);
  const x = padded(TEXTS, length);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), CLASSES);
  for (let step = 0; step < 5; step++) {
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
  }
  return model;
}

describe('text students', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('are listed as families that take token-id rows', () => {
    const text = listArchitectures().filter((family) => family.rows === 'tokens');
    expect(text.map((family) => family.usage)).toEqual(['bag:D', 'cnn1d:D,F', 'bilstm:D,H']);
  });

  it('the same seed builds the same weights, another seed others; bilstm starts its two directions apart', () => {
    for (const spec of SPECS) {
      const weights = (seed: number) =>
        buildModel(spec, { inputShape: [6], numClasses: CLASSES, vocabSize: VOCAB, seed })
          .getWeights()
          .map((w) => Array.from(w.dataSync()));
      expect(weights(2), spec).toEqual(weights(2));
      expect(weights(3)[0], spec).not.toEqual(weights(2)[0]);
    }
    const bilstm = buildModel('bilstm:8,5', { inputShape: [6], numClasses: CLASSES, vocabSize: VOCAB }).layers.find(
      (layer) => layer.getClassName() === 'Bidirectional',
    )!;
    const [forwardKernel, forwardRecurrent, , backwardKernel, backwardRecurrent] = bilstm.getWeights().map((w) => Array.from(w.dataSync()));
    expect(backwardKernel).not.toEqual(forwardKernel);
    expect(backwardRecurrent).not.toEqual(forwardRecurrent);
  });

  for (const spec of SPECS) {
    it(`${spec}: padding does not change a text's logits, in a batch or alone`, async () => {
      const long = await trained(spec, 16);
      const reference = logitsOf(long, padded(TEXTS, 16));
      const short = atLength(spec, 9, long);
      expectClose(logitsOf(short, padded(TEXTS, 9)), reference, `${spec}: a batch padded to 9 against 16`);
      for (const [i, ids] of TEXTS.entries()) {
        const alone = atLength(spec, ids.length, long); // no padding at all
        expectClose(logitsOf(alone, padded([ids], ids.length)), [reference[i]], `${spec}: text ${i} alone, unpadded`);
        expectClose(logitsOf(long, padded([ids], 16)), [reference[i]], `${spec}: text ${i} alone, padded to 16`);
      }
      // The texts differ, and so do their logits: a model that ignored its input would pass the checks above.
      expect(new Set(reference.map((row) => row[0].toFixed(6))).size).toBe(TEXTS.length);
    });
  }

  it('an empty text (padding only) gets the same finite logits at any padded length', async () => {
    for (const spec of SPECS) {
      const long = await trained(spec, 16);
      const [at16] = logitsOf(long, padded([[]], 16));
      const [at3] = logitsOf(atLength(spec, 3, long), padded([[]], 3));
      expect(at16.every(Number.isFinite), spec).toBe(true);
      expectClose([at3], [at16], `${spec}: an empty text`);
    }
  });

  it('round-trip through tf.io save and load, in this process and in one that imports stock tfjs alone', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'text-students-'));
    try {
      const expected: Record<string, number[][]> = {};
      for (const spec of SPECS) {
        const model = await trained(spec, 12);
        expected[spec] = logitsOf(model, padded(TEXTS, 12));
        const data = await modelToData(model);
        const loaded = await modelFromData(data, spec);
        expectClose(logitsOf(loaded, padded(TEXTS, 12)), expected[spec], `${spec} loaded here`);
        // The fixed padding scores stay out of training after a load.
        expect(loaded.trainableWeights.length).toBe(model.trainableWeights.length);
        const file = join(folder, `${spec.replace(/[^a-z0-9]/g, '_')}`);
        await writeFile(`${file}.json`, JSON.stringify(modelJson(data, 'weights.bin')));
        await writeFile(`${file}.bin`, new Uint8Array(data.weights));
      }
      // A fresh Node process with nothing but @tensorflow/tfjs: no layer of ours can be registered there.
      const script = `
        import * as tf from '@tensorflow/tfjs';
        import { readFileSync } from 'node:fs';
        tf.env().set('PROD', true);
        const [folder, texts, ...names] = process.argv.slice(1);
        const out = {};
        for (const name of names) {
          const json = JSON.parse(readFileSync(folder + '/' + name + '.json', 'utf8'));
          const bytes = readFileSync(folder + '/' + name + '.bin');
          const model = await tf.loadLayersModel(tf.io.fromMemory({
            modelTopology: json.modelTopology,
            weightSpecs: json.weightsManifest[0].weights,
            weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
          }));
          out[name] = model.predict(tf.tensor2d(JSON.parse(texts))).arraySync();
        }
        console.log(JSON.stringify(out));`;
      const rows = TEXTS.map((ids) => [...ids, ...new Array(12 - ids.length).fill(0)]);
      const names = SPECS.map((spec) => spec.replace(/[^a-z0-9]/g, '_'));
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--input-type=module', '-e', script, folder, JSON.stringify(rows), ...names],
        { cwd: process.cwd() },
      );
      const stock = JSON.parse(stdout) as Record<string, number[][]>;
      for (const [i, spec] of SPECS.entries()) expectClose(stock[names[i]], expected[spec], `${spec} loaded by stock tfjs`);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuse rows of the other kind, and a vocabulary or length they cannot take, in one line', () => {
    const build = (spec: string, options: { inputShape: number[]; vocabSize?: number }) => () =>
      buildModel(spec, { numClasses: CLASSES, ...options });
    expect(build('bag:8', { inputShape: [16] })).toThrow(
      /^architecture 'bag:8' takes token-id rows and needs vocabSize, the number of token ids \(0 for padding\); for feature or image rows use mlp or cnn$/,
    );
    for (const spec of ['mlp:8', 'cnn:4']) {
      expect(build(spec, { inputShape: [16], vocabSize: VOCAB })).toThrow(
        new RegExp(
          `^architecture '${spec}' takes feature or image rows, but vocabSize says the rows are token ids; use a bag, cnn1d or bilstm architecture$`,
        ),
      );
    }
    expect(build('cnn1d:8,4', { inputShape: [4, 4], vocabSize: VOCAB })).toThrow(
      /needs token-id rows of shape \[maxLength\], but the rows have shape \[4,4\]$/,
    );
    expect(build('bilstm:8,4', { inputShape: [16], vocabSize: 1 })).toThrow(/^vocabSize must be a whole number >= 2 .*, got 1$/);
    expect(build('bag:8,4', { inputShape: [16], vocabSize: VOCAB })).toThrow(
      /^unknown architecture 'bag:8,4': use .*'bag:D' \(embedding width\)/,
    );
    expect(build('cnn1d:8', { inputShape: [16], vocabSize: VOCAB })).toThrow(/^unknown architecture 'cnn1d:8'/);
    for (const message of [build('bag:8', { inputShape: [16] }), build('mlp:8', { inputShape: [16], vocabSize: VOCAB })]) {
      expect(message).toThrow(/^[^\n]+$/);
    }
  });
});
