// Reference (a): what a JS user does today without tfjs-distill. One thread, the main one, stock wasm
// backend (none of tfjs-distill's kernels or worker pool), tfjs's own model.fit with a custom KD loss,
// on the same job as the bench's training rows. Called by bench/run.mjs:
//   node bench/fit-reference.mjs [--quick] --out FILE
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadMnist } from '../dist/data/mnist.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { buildModel } from '../dist/models/architectures.js';
import { mulberry32 } from '../dist/random.js';
import { median } from './metrics.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean' }, out: { type: 'string' } } });
const settings = BENCH_SETTINGS[args.quick ? 'quick' : 'full'];
tf.env().set('PROD', true);
await tf.setBackend('wasm');

const { train } = await loadMnist();
const rows = settings.trainSteps * settings.batchSize;
const classes = train.numClasses;
const features = SharedDataset.fromDataset(train, 'train').features; // scaled as the pool sees them
const x = tf.tensor2d(features.slice(0, rows * 784), [rows, 784]);
// model.fit checks each target against its output's shape, so the two KD terms go to two outputs that
// both carry the student's logits: soft (target: the teacher's logits) and hard (target: one-hot labels).
const random = mulberry32(3);
const teacher = tf.tensor2d(
  Float32Array.from({ length: rows * classes }, () => random() * 8 - 4),
  [rows, classes],
);
const oneHot = tf.oneHot(tf.tensor1d(train.y.slice(0, rows), 'int32'), classes).toFloat();
const { temperature: t, alpha } = settings;
const softLoss = (teacherLogits, logits) =>
  tf.tidy(() => {
    const logStudent = tf.logSoftmax(logits.div(t));
    const logTeacher = tf.logSoftmax(teacherLogits.div(t));
    return tf.mean(tf.sum(tf.exp(logTeacher).mul(logTeacher.sub(logStudent)), -1)).mul(alpha * t * t);
  });
const hardLoss = (targets, logits) => tf.tidy(() => tf.mean(tf.neg(tf.sum(targets.mul(tf.logSoftmax(logits)), -1))).mul(1 - alpha));
const student = buildModel(settings.denseModel, { inputShape: [784], numClasses: classes, seed: 1 });
const input = tf.input({ shape: [784] });
const logits = student.apply(input);
const model = tf.model({ inputs: input, outputs: [logits, tf.layers.activation({ activation: 'linear' }).apply(logits)] });
model.compile({ optimizer: tf.train.adam(settings.learningRate), loss: [softLoss, hardLoss] });
const y = [teacher, oneHot];

const runs = [];
let measuring = false;
const bench = new Bench({ time: settings.benchMs, iterations: settings.iterations, warmupIterations: 1, warmupTime: 0, throws: true });
bench.add(
  'model.fit',
  async () => {
    const started = performance.now();
    await model.fit(x, y, { batchSize: settings.batchSize, epochs: 1, shuffle: false, verbose: 0 });
    if (measuring) runs.push(rows / ((performance.now() - started) / 1000));
  },
  {
    beforeAll: (mode) => {
      measuring = mode === 'run';
    },
  },
);
await bench.run();
await writeFile(
  args.out,
  JSON.stringify({
    name: 'tfjs model.fit, 1 thread',
    phase: 'train',
    model: settings.denseModel,
    threads: 1,
    backend: 'wasm (stock)',
    samplesPerSec: median(runs),
    runs: runs.length,
  }),
);
