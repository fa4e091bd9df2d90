// Inference vs training GFLOP/s of a 784-1200-1200-10 MLP at batch 256 on the wasm backend, one thread, for
// each kernel set: `stock` (tfjs-backend-wasm untouched), `wasm` (transposed matMul operands materialised)
// and `openblas` (tfjs-distill's native addon). `npm run build && node bench/kernels.mjs [rounds]` runs each
// set in its own process (the stock kernels cannot be restored in one) and prints a table. Within a process,
// inference and training steps alternate, so machine contention hits both alike; the ratio is the figure.
// Training FLOPs as bench/metrics.mjs flopsPerSample counts them (forward, dW, dX but the first layer's).
// A second table times the three conv kernels
// alone, for x [64,14,14,32] and a 3x3x32x64 filter, same padding, and MaxPoolGrad for a 2x2 pool of
// [128,28,28,16]. `stock` is tfjs-backend-wasm with only the kernels it lacks added; the other sets also get
// tfjs-distill's replacements (replaceWasmKernels: Identity, MaxPoolGrad).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { selectWasmKernels } from '../dist/kernels/kernel-choice.js';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { registerMissingWasmKernels, replaceWasmKernels } from '../dist/kernels/wasm-kernels.js';
import { flopsPerSample } from './metrics.mjs';

const SETS = ['stock', 'wasm', 'openblas'];
const [mode, roundsArg] = process.argv[2] && SETS.includes(process.argv[2]) ? process.argv.slice(2) : [undefined, process.argv[2]];
const rounds = Number(roundsArg ?? 5);

if (mode === undefined) {
  const sets = 'blas' in loadBlas() ? SETS : SETS.slice(0, 2);
  const rows = [];
  console.log('| kernels | inference GFLOP/s | training GFLOP/s | training / inference | training samples/s |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const set of sets) {
    const row = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), set, String(rounds)], { encoding: 'utf8' }));
    console.log(
      `| ${set} | ${row.inference.toFixed(1)} | ${row.training.toFixed(1)} | ${Math.round((100 * row.training) / row.inference)}% | ${Math.round(row.samplesPerSec)} |`,
    );
    rows.push([set, row.conv, row.maxPoolGradMs]);
  }
  console.log('\n| kernels | Conv2D GFLOP/s | Conv2DBackpropInput GFLOP/s | Conv2DBackpropFilter GFLOP/s | MaxPoolGrad ms |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const [set, conv, poolMs] of rows) console.log(`| ${set} | ${conv.map((g) => g.toFixed(1)).join(' | ')} | ${poolMs.toFixed(1)} |`);
} else {
  tf.env().set('PROD', true);
  registerMissingWasmKernels();
  await tf.setBackend('wasm');
  if (mode !== 'stock') {
    replaceWasmKernels();
    selectWasmKernels(mode, tf.backend());
  }
  const batch = 256;
  const sizes = [784, 1200, 1200, 10];
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 1200, activation: 'relu' }),
      tf.layers.dense({ units: 1200, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
  const x = tf.randomUniform([batch, 784]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  const optimizer = tf.train.sgd(1e-3);
  const layers = sizes.slice(1).map((units, i) => ({ kind: 'dense', inputs: sizes[i], units }));
  const forwardFlop = batch * flopsPerSample(layers, 'label');
  const trainFlop = batch * flopsPerSample(layers, 'train');
  // predict() splits into batches of 32 unless told otherwise.
  const infer = () =>
    tf.tidy(() => {
      model.predict(x, { batchSize: batch }).dataSync(); // not returned: tidy would walk every element
    });
  const train = () => tf.dispose(optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x)), true));
  const timed = (f) => {
    const start = performance.now();
    f();
    return performance.now() - start;
  };
  infer();
  train();
  let inferMs = 0;
  let trainMs = 0;
  for (let r = 0; r < rounds; r++) {
    // The first inference after a training step sees new weights, which XNNPACK re-packs; the second is
    // steady-state inference, the figure compared against.
    infer();
    inferMs += timed(infer);
    trainMs += timed(train);
  }
  const gflops = (flop, ms, reps = rounds) => (flop * reps) / ms / 1e6;

  const [xShape, filterShape] = [
    [64, 14, 14, 32],
    [3, 3, 32, 64],
  ];
  const convX = tf.randomUniform(xShape);
  const filter = tf.randomUniform(filterShape);
  const dy = tf.randomUniform([64, 14, 14, 64]);
  const convFlop = 2 * 64 * 14 * 14 * 3 * 3 * 32 * 64;
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC' };
  const convs = [
    () => tf.conv2d(convX, filter, 1, 'same'),
    () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: xShape }),
    () => tf.engine().runKernel('Conv2DBackpropFilter', { x: convX, dy }, { ...attrs, filterShape }),
  ];
  const conv = convs.map((op) => {
    const run = () =>
      tf.tidy(() => {
        op().dataSync();
      });
    run();
    const reps = 3;
    return gflops(
      convFlop,
      timed(() => {
        for (let i = 0; i < reps; i++) run();
      }),
      reps,
    );
  });
  // A max pool's gradient as a cnn:16,32 model's first block needs it at batch 128 (ms per call).
  const poolX = tf.randomUniform([128, 28, 28, 16]);
  const poolY = tf.maxPool(poolX, 2, 2, 'valid');
  const poolDy = tf.randomUniform(poolY.shape);
  const poolGrad = () =>
    tf.tidy(() => {
      tf.engine()
        .runKernel('MaxPoolGrad', { dy: poolDy, input: poolX, output: poolY }, { filterSize: 2, strides: 2, pad: 'valid' })
        .dataSync();
    });
  poolGrad();
  const maxPoolGradMs =
    timed(() => {
      for (let i = 0; i < 5; i++) poolGrad();
    }) / 5;
  console.log(
    JSON.stringify({
      inference: gflops(forwardFlop, inferMs),
      training: gflops(trainFlop, trainMs),
      samplesPerSec: (batch * rounds * 1000) / trainMs,
      conv,
      maxPoolGradMs,
    }),
  );
}
