import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { computeLogits, planChunks } from '../dist/infer/logits.js';
import { layersInference } from '../dist/infer/predictor.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { mulberry32 } from '../dist/random.js';

// 2,500 rows: ten inference batches of 256 (the last one 196 rows), in chunks that depend on W.
const ROWS = 2500;

describe('labelling chunks', () => {
  it('cover every row once, in order, in whole batches of 256, shrinking towards the end', () => {
    for (const [rows, workers] of [
      [60_000, 2],
      [60_000, 16],
      [2500, 3],
      [100, 2],
      [256, 1],
    ]) {
      const chunks = planChunks(rows, workers);
      expect(chunks[0][0]).toBe(0);
      expect(chunks[chunks.length - 1][1]).toBe(rows);
      for (let i = 0; i < chunks.length; i++) {
        const [start, end] = chunks[i];
        expect(start % 256).toBe(0); // batches start at the same rows for any W: identical results
        expect(end - start).toBeGreaterThan(0);
        expect(end - start).toBeLessThanOrEqual(1024);
        if (i > 0) {
          expect(start).toBe(chunks[i - 1][1]);
          expect(end - start).toBeLessThanOrEqual(chunks[i - 1][1] - chunks[i - 1][0]);
        }
      }
    }
    // The tail is single batches, so the last thread to finish is at most one batch behind.
    const tail = planChunks(60_000, 2).slice(-3);
    expect(tail.map(([start, end]) => end - start)).toEqual([256, 256, 60_000 - 234 * 256]);
  });
});

describe('teacher labelling through the pool', () => {
  const pools: TfjsPool[] = [];
  beforeAll(async () => {
    await tf.setBackend('cpu');
    for (const workers of [2, 3]) pools.push(await TfjsPool.startTfjs({ workers, backend: 'wasm', barrierTimeoutMs: 60_000 }));
  });
  afterAll(async () => {
    for (const pool of pools) await pool.destroy();
  });

  it('writes teacher.predict for every row, in order, chunk edges included, for W=2 and W=3', async () => {
    const random = mulberry32(11);
    const x = Uint8Array.from({ length: ROWS * 8 * 8 }, () => Math.floor(random() * 256));
    const y = Int32Array.from({ length: ROWS }, (_, i) => i % 5);
    const dataset = { x, y, shape: [ROWS, 8, 8], numClasses: 5 };
    const shared = SharedDataset.fromDataset(dataset, 'train');
    // A softmax output layer: the workers must strip it and write logits.
    const teacher = buildModel('cnn:4', { inputShape: [8, 8], numClasses: 5, seed: 2 });
    const withSoftmax = tf.sequential({ layers: [...teacher.layers.slice(0, -1), tf.layers.dense({ units: 5, activation: 'softmax' })] });
    withSoftmax.layers[withSoftmax.layers.length - 1].setWeights(teacher.layers[teacher.layers.length - 1].getWeights());
    const handle = layersInference(shareModel(await modelToData(withSoftmax)));

    const expected = tf.tidy(() => (teacher.predict(tf.tensor(shared.features, [ROWS, 8, 8])) as tf.Tensor).dataSync());
    let previous: Float32Array | undefined;
    for (const pool of pools) {
      let lastDone = 0;
      const { table, seconds } = await computeLogits(pool, handle, shared, {
        phase: 'label',
        onProgress: (event) => {
          expect(event.done).toBeGreaterThan(lastDone);
          lastDone = event.done;
        },
      });
      expect(lastDone).toBe(ROWS);
      expect(seconds).toBeGreaterThan(0);
      expect(table.allFinite()).toBe(true); // every row was written
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(table.values[i] - expected[i]));
      expect(worst).toBeLessThan(1e-4);
      // Same rows, same chunks and batches whatever W is: identical bits across worker counts.
      if (pool === pools[1]) expect(Buffer.from(table.values.buffer).equals(Buffer.from(previous!.buffer))).toBe(true);
      previous = table.values.slice();
    }
  });
});
