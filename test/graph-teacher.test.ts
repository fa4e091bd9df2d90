import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../dist/data/dataset.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { distill } from '../dist/distill/distill.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { computeLogits } from '../dist/infer/logits.js';
import { buildModel } from '../dist/models/architectures.js';
import { openGraphTeacher } from '../dist/models/graph-teacher.js';
import { loadModel, readModelData } from '../dist/models/model-files.js';
import { mulberry32 } from '../dist/random.js';

// A GraphModel in tfjs-converter's format (test/fixtures/graph-model/make.mjs): conv, relu, pool, dense, Softmax.
const MODEL = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'graph-model', 'model.json');

function images(rows: number, seed: number): Dataset {
  const random = mulberry32(seed);
  return {
    x: Uint8Array.from({ length: rows * 64 }, () => Math.floor(random() * 256)),
    y: Int32Array.from({ length: rows }, (_, i) => i % 3),
    shape: [rows, 8, 8],
    numClasses: 3,
  };
}

/** The same graph in tfjs ops on the main thread: its logits, before the Softmax. */
async function referenceLogits(data: Dataset): Promise<Float32Array> {
  const json = JSON.parse(await readFile(MODEL, 'utf8'));
  const bin = await readFile(join(dirname(MODEL), 'weights.bin'));
  const weights = new Map<string, tf.Tensor>();
  let offset = 0;
  for (const spec of json.weightsManifest[0].weights as { name: string; shape: number[]; dtype: string }[]) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values =
      spec.dtype === 'int32'
        ? new Int32Array(bin.buffer, bin.byteOffset + offset, size)
        : new Float32Array(bin.buffer.slice(bin.byteOffset + offset, bin.byteOffset + offset + size * 4));
    weights.set(spec.name, tf.tensor(values, spec.shape, spec.dtype as 'float32'));
    offset += size * 4;
  }
  const rows = data.shape[0];
  return tf.tidy(() => {
    const x = tf.tensor4d(
      Float32Array.from(data.x, (v) => v / 255),
      [rows, 8, 8, 1],
    );
    const conv = tf.relu(tf.add(tf.conv2d(x, weights.get('filter') as tf.Tensor4D, 1, 'same'), weights.get('convBias')!));
    const pooled = tf.maxPool(conv as tf.Tensor4D, 2, 2, 'valid').reshape([rows, 64]);
    return tf.add(tf.matMul(pooled, weights.get('dense') as tf.Tensor2D), weights.get('denseBias')!).dataSync() as Float32Array;
  });
}

describe('GraphModel teachers (tfjs-converter format)', () => {
  let pool: TfjsPool;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    pool = await TfjsPool.startTfjs({ workers: 2, backend: 'wasm', barrierTimeoutMs: 60_000 });
  });
  afterAll(async () => {
    await pool.destroy();
  });

  it('label in the pool as the same ops do on the main thread, reading the logits under the output Softmax', async () => {
    const data = images(700, 1);
    const shared = SharedDataset.fromDataset(data, 'train');
    const teacher = await openGraphTeacher(await readModelData(MODEL), MODEL, { featureShape: [8, 8], numClasses: 3 });
    expect(teacher.spec).toMatchObject({ inputShape: [8, 8, 1], outputNode: 'logits' });
    expect(teacher.params).toBe(36 + 4 + 192 + 3);
    expect(teacher.notices.join()).toMatch(/output 'probs' is a Softmax: its input 'logits', the logits, is read instead/);
    const run = await computeLogits(pool, teacher.spec, shared, { phase: 'label', onProgress: () => {} });
    const reference = await referenceLogits(data);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(run.table.values[i] - reference[i]));
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('distill() takes its path as the teacher, fills its column, and refuses it as a student or layers model', async () => {
    const train = images(512, 2);
    const test = images(128, 3);
    const student = buildModel('mlp:8', { inputShape: [8, 8], numClasses: 3, seed: 1 });
    // The fixture graph on random rows is at chance: what is on trial is that it runs.
    const { report } = await distill({
      teacher: MODEL,
      student,
      train,
      test,
      epochs: 1,
      workers: 2,
      batchSize: 64,
      allowWeakTeacher: true,
    });
    const logits = await referenceLogits(test);
    let hits = 0;
    for (let r = 0; r < 128; r++) {
      const row = Array.from(logits.subarray(r * 3, r * 3 + 3));
      if (row.indexOf(Math.max(...row)) === test.y[r]) hits++;
    }
    expect(report.teacher!.accuracy).toBeCloseTo(hits / 128, 10);
    expect(report.teacher).toMatchObject({ params: 235 });
    await expect(distill({ teacher: MODEL, student: MODEL, train, test, workers: 2 })).rejects.toThrow(
      /model\.json is a graph model \(tfjs-converter output\): it can be a teacher, but the student must be a layers model/,
    );
    await expect(loadModel(MODEL)).rejects.toThrow(/is a graph model \(tfjs-converter output\), not a layers model/);
    await expect(distill({ teacher: MODEL, student, train: images(64, 4), test, workers: 2, teacherEpochs: 1 })).rejects.toThrow(
      /but a graph model .* runs as given; set teacherEpochs to 0/,
    );
  });
});
