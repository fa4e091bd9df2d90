// The dense student's gradient pass in one thread, as a worker runs it (wasm backend, tfjs-distill's OpenBLAS
// kernels, one BLAS thread): replica-step.ts's gradientPass through tfjs's autograd (the stock pass) and with
// the dense chain (dense-chain-step.ts), each beside the step's GEMM floor (OpenBLAS's sgemm on the step's own
// GEMM shapes, as bench/step-profile.mjs times it). The three alternate in every round, so that other
// tenants' load hits them alike; medians over the rounds, with ranges, and the load average.
//   node --expose-gc bench/dense-chain-profile.mjs [--rounds 25] [--spec mlp:1024,1024]
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { LogitTable } from '../dist/data/logit-table.js';
import { loadMnist } from '../dist/data/mnist.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { initBackend } from '../dist/kernels/backend.js';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { nativeDenseChainLoops } from '../dist/kernels/dense-chain-loops.js';
import { buildModel } from '../dist/models/architectures.js';
import { denseChain } from '../dist/models/dense-chain.js';
import { mulberry32 } from '../dist/random.js';
import { ShardedOptimizer } from '../dist/train/optimizers.js';
import { gradientPass } from '../dist/train/replica-step.js';
import { median, stepGemms } from './metrics.mjs';
import { describeLayers } from './model-layers.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const { values: args } = parseArgs({ options: { rounds: { type: 'string' }, spec: { type: 'string' } } });
const rounds = Number(args.rounds ?? 25);
const settings = BENCH_SETTINGS.full;
const spec = args.spec ?? settings.denseModel;
tf.env().set('PROD', true);
const loadAtStart = os.loadavg();

const { train } = await loadMnist();
const data = SharedDataset.fromDataset(train, 'train');
const soft = LogitTable.create(data.rows, data.numClasses);
const random = mulberry32(3);
for (let i = 0; i < soft.values.length; i++) soft.values[i] = random() * 8 - 4;
const loss = { name: 'kd', temperature: settings.temperature, alpha: settings.alpha };

const blasLoad = loadBlas();
if (!('blas' in blasLoad)) throw new Error(`the dense chain's profile needs the openblas kernels: ${blasLoad.error}`);
await initBackend(['wasm'], 'openblas');

const timeMs = (fn) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
/** The step's GEMMs through the addon's gemm, one call each (bench/step-profile.mjs's floor). */
function floorTimer(layers, rows) {
  const gemms = stepGemms(layers, rows, 'train');
  const heap = new ArrayBuffer(Math.max(...gemms.map((g) => g.m * g.k + g.k * g.n + g.m * g.n)) * 4);
  new Float32Array(heap).forEach((_, i, a) => {
    a[i] = ((i % 97) - 48) / 97;
  });
  const calls = gemms.map(
    (g) => () =>
      blasLoad.blas.gemm(heap, g.transA, g.transB, g.m, g.n, g.k, Int32Array.of(0), Int32Array.of(g.m * g.k), g.m * g.k + g.k * g.n),
  );
  return () => calls.reduce((ms, call) => ms + timeMs(call), 0);
}

const batch = Int32Array.from({ length: settings.batchSize }, (_, i) => (i * 7919) % data.rows);
const model = buildModel(spec, { inputShape: data.featureShape, numClasses: data.numClasses, seed: 1 });
const variables = model.trainableWeights.map((w) => w.read());
const params = variables.reduce((n, v) => n + v.size, 0);
const chain = denseChain(model);
if (!chain) throw new Error(`${spec} is not a dense chain`);
const fmt = (values, digits = 2) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
console.log(`${spec}; ${os.cpus()[0]?.model ?? 'unknown'}; load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at the start`);
for (const rows of [256, 128]) {
  const optimizer = ShardedOptimizer.create({ name: 'adam', learningRate: settings.learningRate }, params).handle;
  const weights = new Float32Array(optimizer.weights);
  let offset = 0;
  for (const v of variables) {
    weights.set(v.dataSync(), offset); // the chain reads the shared weights: the model's own, as rank 0 publishes them
    offset += v.size;
  }
  const task = { rank: 0, softLabels: soft.handle, plan: { maxRowsPerRank: rows, steps: 1e6 }, loss, seed: 1, optimizer };
  const slots = { stock: new Float32Array(params + 1), chain: new Float32Array(params + 1) };
  const passes = {
    stock: gradientPass(task, model, data, data.featureShape, variables, slots.stock, undefined),
    chain: gradientPass(task, model, data, data.featureShape, variables, slots.chain, undefined, {
      chain,
      loops: nativeDenseChainLoops(blasLoad.blas),
    }),
  };
  const floor = floorTimer(describeLayers(model), rows);
  const times = { stock: [], chain: [], floor: [] };
  for (let round = -3; round < rounds; round++) {
    const t = {
      floor: floor(),
      stock: timeMs(() => passes.stock(batch, 0, rows, 0)),
      chain: timeMs(() => passes.chain(batch, 0, rows, 0)),
    };
    if (round >= 0) for (const key of Object.keys(times)) times[key].push(t[key]);
  }
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < params; i++) {
    diff = Math.max(diff, Math.abs(slots.stock[i] - slots.chain[i]));
    scale = Math.max(scale, Math.abs(slots.stock[i]));
  }
  const ratio = (key) => fmt(times[key].map((t, i) => t / times.floor[i]));
  console.log(
    `${rows} rows: floor ${fmt(times.floor)} ms; stock pass ${fmt(times.stock)} ms (${ratio('stock')}x floor); ` +
      `chain pass ${fmt(times.chain)} ms (${ratio('chain')}x floor); stock/chain ${fmt(times.stock.map((s, i) => s / times.chain[i]))}; ` +
      `gradients differ by ${(diff / scale).toExponential(1)} of the largest`,
  );
}
console.log(
  `load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the end`,
);
