// The machine's limit for a training step: OpenBLAS's sgemm, one thread (each worker runs one BLAS
// thread), timed through tfjs-distill's native addon on every GEMM shape a training step of each model
// runs (bench/metrics.mjs stepGemms: dense layers' products, convs' im2col products) at each per-worker
// batch. bench/run.mjs calls it once per round and adds up, per training row, the step's GEMMs at these
// times (the GEMM floor). Without the addon or OpenBLAS it writes no shapes and the floor is left out.
//   node bench/gemm-floor.mjs --models mlp:1024,1024,cnn:16,32 --batches 128,256 [--quick] --out FILE
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { loadBlas } from '../dist/kernels/blas-loader.js';
import { buildModel } from '../dist/models/architectures.js';
import { gemmKey, median, stepGemms } from './metrics.mjs';
import { describeLayers } from './model-layers.mjs';

const { values: args } = parseArgs({
  options: { models: { type: 'string' }, batches: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } },
});
// Model specs hold commas themselves: split before each `mlp:` / `cnn:`.
const specs = args.models.split(/,(?=(?:mlp|cnn):)/);
const batches = args.batches.split(',').map(Number);
await tf.setBackend('cpu');

const models = {};
for (const spec of specs) {
  const model = buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed: 1 });
  models[spec] = { layers: describeLayers(model) };
  model.dispose();
}
const load = loadBlas();
const shapes = new Map();
for (const spec of specs)
  for (const batch of batches) for (const g of stepGemms(models[spec].layers, batch, 'train')) shapes.set(gemmKey(g), g);

const rates = [];
if ('blas' in load) {
  // One heap for every shape, its operands filled with small values (denormals or NaNs would time apart).
  const floats = Math.max(...[...shapes.values()].map((g) => g.m * g.k + g.k * g.n + g.m * g.n));
  const heap = new ArrayBuffer(floats * 4);
  new Float32Array(heap).forEach((_, i, a) => {
    a[i] = ((i % 97) - 48) / 97;
  });
  const enough = args.quick ? 40 : 150; // ms of timed calls per shape, at least 3 calls
  for (const g of shapes.values()) {
    const a = Int32Array.of(0);
    const b = Int32Array.of(g.m * g.k);
    const call = () => load.blas.gemm(heap, g.transA, g.transB, g.m, g.n, g.k, a, b, g.m * g.k + g.k * g.n);
    call(); // warm-up
    const times = [];
    for (let spent = 0; times.length < 3 || spent < enough; ) {
      const started = performance.now();
      call();
      times.push(performance.now() - started);
      spent += times.at(-1);
    }
    const ms = median(times);
    rates.push({ key: gemmKey(g), m: g.m, n: g.n, k: g.k, transA: g.transA, transB: g.transB, ms, gflops: g.flops / ms / 1e6 });
  }
}
await writeFile(args.out, JSON.stringify({ library: 'library' in load ? load.library : null, error: load.error, models, rates }));
