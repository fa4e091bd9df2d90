import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogitTable } from '../dist/data/logit-table.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { mulberry32 } from '../dist/random.js';
import { trainDataParallel } from '../dist/train/data-parallel.js';
import { meanLoss } from '../dist/train/losses.js';
import { planPhase } from '../dist/train/plan.js';
import { BatchSchedule } from '../dist/train/schedule.js';

const ROWS = 40;
const MAX_LENGTH = 10;
const VOCAB = 25;
const CLASSES = 3;
const STEPS = 6;
const BATCH = 10;
const LOSS = { name: 'kd', temperature: 2, alpha: 0.7 } as const;
const RATE = 0.5;

/**
 * Token-id rows as the trainer takes them (float32 features, 0 for padding after each text), of lengths
 * 0 to MAX_LENGTH; a third of them unlabeled; random teacher logits.
 */
function textData() {
  const random = mulberry32(11);
  const x = new Float32Array(ROWS * MAX_LENGTH);
  for (let row = 0; row < ROWS; row++) {
    const length = row === 0 ? 0 : 1 + Math.floor(random() * MAX_LENGTH);
    for (let t = 0; t < length; t++) x[row * MAX_LENGTH + t] = 1 + Math.floor(random() * (VOCAB - 1));
  }
  const y = Int32Array.from({ length: ROWS }, (_, i) => (i % 3 === 2 ? -1 : Math.floor(random() * CLASSES)));
  const data = SharedDataset.fromDataset({ x, y, shape: [ROWS, MAX_LENGTH], numClasses: CLASSES }, 'train');
  const soft = LogitTable.create(ROWS, CLASSES);
  for (let i = 0; i < soft.values.length; i++) soft.values[i] = random() * 4 - 2;
  return { data, soft };
}

const build = (spec: string) => buildModel(spec, { inputShape: [MAX_LENGTH], numClasses: CLASSES, vocabSize: VOCAB, seed: 3 });

/** Every weight, flat, in the order of the saved weights (as the trainer returns them; the fixed ones too). */
const weightsOf = async (model: tf.LayersModel) => new Float32Array((await modelToData(model)).weights);

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** Plain single-thread SGD on the main thread (cpu backend) over the trainer's global batches. */
async function referenceWeights(spec: string): Promise<Float32Array> {
  const { data, soft } = textData();
  const model = build(spec);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = tf.train.sgd(RATE);
  const schedule = new BatchSchedule(
    Int32Array.from({ length: ROWS }, (_, i) => i),
    planPhase({ rows: ROWS, batchSize: BATCH, workers: 1, steps: STEPS }),
    5,
  );
  for (let step = 0; step < STEPS; step++) {
    const batch = schedule.batch(step);
    const n = batch.length;
    tf.tidy(() => {
      const x = tf.tensor2d(data.gatherFeatures(batch, 0, n, new Float32Array(n * MAX_LENGTH)), [n, MAX_LENGTH]);
      const labels = tf.tensor1d(data.gatherLabels(batch, 0, n, new Int32Array(n)), 'int32');
      const teacher = tf.tensor2d(soft.gather(batch, 0, n, new Float32Array(n * CLASSES)), [n, CLASSES]);
      optimizer.minimize(
        () => meanLoss(LOSS, { student: model.apply(x, { training: true }) as tf.Tensor2D, teacher, labels }),
        false,
        variables,
      );
    });
  }
  return weightsOf(model);
}

/** The gradient of the embedding table ([VOCAB, D]) for a batch of rows. */
function embeddingGradient(spec: string, rows: number[][]): tf.Tensor {
  const model = build(spec);
  const table = model.layers.find((layer) => layer.getClassName() === 'Embedding')!.trainableWeights[0].read() as tf.Variable;
  const x = tf.tensor2d(rows, [rows.length, MAX_LENGTH]);
  const { grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, [table]);
  return grads[table.name];
}

const pools = new Map<number, TfjsPool>();

async function trainInPool(spec: string, workers: number) {
  const { data, soft } = textData();
  const model = build(spec);
  const trainableParams = model.trainableWeights.reduce((sum, w) => sum + w.read().size, 0);
  const outcome = await trainDataParallel(pools.get(workers)!, {
    phase: 'student',
    model: shareModel(await modelToData(model)),
    trainableParams,
    data,
    rows: Int32Array.from({ length: ROWS }, (_, i) => i),
    softLabels: soft,
    loss: LOSS,
    optimizer: { name: 'sgd', learningRate: RATE },
    plan: planPhase({ rows: ROWS, batchSize: BATCH, workers, steps: STEPS }),
    seed: 5,
    onNonFinite: 'abort',
    onProgress: () => {},
  });
  return { weights: new Float32Array(outcome.weights), initial: await weightsOf(model), steps: outcome.steps };
}

describe('text students in the data-parallel trainer', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    for (const workers of [1, 2])
      pools.set(workers, await TfjsPool.startTfjs({ workers, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' }));
  });
  afterAll(async () => {
    for (const pool of pools.values()) await pool.destroy();
  });

  it('padding gets no gradient: the padding embedding (id 0) only trains on texts that are all padding', () => {
    for (const spec of ['bag:6', 'cnn1d:6,4', 'bilstm:6,4']) {
      const texts = [
        [3, 7, 1, 0, 0, 0, 0, 0, 0, 0],
        [9, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      ];
      const [padding, real] = tf.split(embeddingGradient(spec, texts), [1, VOCAB - 1]);
      expect(tf.max(tf.abs(real)).dataSync()[0], spec).toBeGreaterThan(0);
      expect(Array.from(padding.dataSync()), spec).toEqual(new Array(6).fill(0));
      const [emptyPadding] = tf.split(embeddingGradient(spec, [...texts, new Array(MAX_LENGTH).fill(0)]), [1, VOCAB - 1]);
      if (spec.startsWith('bag')) expect(tf.max(tf.abs(emptyPadding)).dataSync()[0], 'an empty text averages padding').toBeGreaterThan(0);
    }
  });

  for (const spec of ['bag:6', 'cnn1d:6,4', 'bilstm:6,4']) {
    it(`${spec}: W=1 and W=2 follow a plain single-thread SGD loop over the same global batches`, async () => {
      const expected = await referenceWeights(spec);
      const one = await trainInPool(spec, 1);
      expect(one.steps).toBe(STEPS);
      expect(maxAbsDiff(one.weights, one.initial)).toBeGreaterThan(1e-3); // training moved the weights
      expect(maxAbsDiff(one.weights, expected)).toBeLessThanOrEqual(1e-4);
      const two = await trainInPool(spec, 2);
      expect(maxAbsDiff(two.weights, expected)).toBeLessThanOrEqual(1e-4);
    });
  }
});
