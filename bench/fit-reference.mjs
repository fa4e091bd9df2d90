// Reference (a): what a JS user does today without tfjs-distill. One thread, the main one, the wasm
// backend, tfjs's own model.fit with a custom KD loss, on the same job as the bench's training rows.
// --kernels stock (the default) runs the backend as tfjs ships it; --kernels wasm or openblas registers
// tfjs-distill's kernel set first, as its workers do (src/kernels/backend.ts initBackend), so that this
// fit against the stock one is what the kernels alone give, and tfjs-distill's W=1 against this fit is
// what its training loop gives. Timed with tinybench: a warm-up fit, then --iterations (default: the
// settings') measured ones. Called by bench/run.mjs once per round and kernel set:
//   node bench/fit-reference.mjs [--kernels stock|wasm|openblas] [--iterations N] [--quick] --out FILE
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../dist/kernels/backend.js';
import { loadMnist } from '../dist/data/mnist.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { buildModel } from '../dist/models/architectures.js';
import { mulberry32 } from '../dist/random.js';
import { median } from './metrics.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const { values: args } = parseArgs({
  options: { kernels: { type: 'string' }, iterations: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } },
});
const settings = BENCH_SETTINGS[args.quick ? 'quick' : 'full'];
const kernels = args.kernels ?? 'stock';
if (!['stock', 'wasm', 'openblas'].includes(kernels))
  throw new Error(`fit-reference: --kernels takes stock, wasm or openblas; got '${kernels}'`);
const iterations = Number(args.iterations ?? settings.iterations);
tf.env().set('PROD', true);
if (kernels === 'stock') await tf.setBackend('wasm');
else {
  const init = await initBackend(['wasm'], kernels);
  if (init.kernels !== kernels) throw new Error(`fit-reference: asked for the ${kernels} kernels, got ${init.kernels}`);
}

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
const bench = new Bench({ time: 0, iterations, warmupIterations: 1, warmupTime: 0, throws: true });
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
    name: kernels === 'stock' ? 'tfjs model.fit, 1 thread' : `tfjs model.fit with tfjs-distill's ${kernels} kernels, 1 thread`,
    phase: 'train',
    model: settings.denseModel,
    threads: 1,
    backend: 'wasm',
    kernels: kernels === 'stock' ? 'stock' : kernels,
    fit: true,
    samplesPerSec: median(runs),
    runs: runs.length,
  }),
);
