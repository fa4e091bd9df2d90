// The exchange and update of a data-parallel step of the bench's dense model (1,863,690 parameters), without
// the gradient pass, both ways the training loop runs them, alternating in one run so that other load hits
// both alike:
// - in the pool's pattern: 2 worker threads, each with its own replica (wasm backend, the openblas kernels),
//   each step starting together; the three-barrier path (allReduceMean, then ShardUpdate.apply: Adam on the
//   rank's chunk, a barrier, the reload) against the fused one (allReduceUpdate, then ShardUpdate.commit:
//   Adam in the averaging pass, the reload), in blocks of 30 steps, alternating which goes first;
// - in one thread, its parts: the gradient's copy into the slot (a plain copy against copyBounded), the mean
//   of two ranks' chunks then Adam (weightedSum + adam) against averagedUpdate, and the reload of the
//   weights into the replica's variables (new tensors, as before, against WeightReload's copy in place).
// Prints medians (ms) with their interquartile ranges.
//   npm run build && node bench/exchange-step.mjs [--blocks 10]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/kernels/backend.js';
import { exchangeLoops, javascriptLoops, UPDATE_RULES } from '../dist/kernels/exchange-loops.js';
import { buildModel } from '../dist/models/architectures.js';
import { FUSED_BOUND, SharedAllReduce } from '../dist/parallel/allreduce.js';
import { SharedBarrier } from '../dist/parallel/barrier.js';
import { ShardedOptimizer } from '../dist/train/optimizers.js';
import { ShardUpdate } from '../dist/train/replica-step.js';
import { WeightReload } from '../dist/train/weight-reload.js';
import { BENCH_SETTINGS } from './settings.mjs';

const W = 2;
const STEPS = 30; // per block
const { denseModel, learningRate } = BENCH_SETTINGS.full;
const spec = { name: 'adam', learningRate };
const shape = { inputShape: [28, 28, 1], numClasses: 10, seed: 1 };
const rules = { lrSchedule: { name: 'constant' }, weightDecay: 0, clipNorm: null };
const quartiles = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return `${at(0.5).toFixed(3)} (${at(0.25).toFixed(3)} to ${at(0.75).toFixed(3)})`;
};

async function replica() {
  await initBackend(['wasm'], 'openblas');
  const model = buildModel(denseModel, shape);
  return { model, variables: model.trainableWeights.map((w) => w.read()) };
}

if (!isMainThread) {
  const { rank, barrier: b, allReduce: a, optimizers, blocks } = workerData;
  const { model, variables } = await replica();
  const barrier = SharedBarrier.attach(b);
  const allReduce = SharedAllReduce.attach(a, barrier, exchangeLoops());
  const params = optimizers[0].length;
  const wait = () => barrier.arriveAndWait(60_000);
  const task = (optimizer) => ({ rank, plan: { steps: 1e6 }, optimizer, rules, norms: new SharedArrayBuffer(W * 8) });
  const updates = optimizers.map((o) => new ShardUpdate(task(o), model, variables, allReduce.chunk(rank), wait));
  const gradient = Float32Array.from({ length: params + 1 }, (_, i) => Math.sin(i + rank) * 1e-3);
  const slot = allReduce.slot(rank);
  const times = { 'three barriers': [], fused: [] };
  for (let block = 0; block < blocks; block++) {
    for (const path of block % 2 ? ['fused', 'three barriers'] : ['three barriers', 'fused']) {
      const update = updates[path === 'fused' ? 1 : 0];
      for (let step = 0; step < STEPS; step++) {
        wait(); // every rank starts the step together
        const start = performance.now();
        if (path === 'fused') {
          const bounded = exchangeLoops().copyBounded(gradient, slot, 0, FUSED_BOUND);
          const averaged = update.averaged(step);
          if (allReduce.allReduceUpdate(rank, 128, false, 60_000, bounded, params, averaged).applied) update.commit();
        } else {
          slot.set(gradient);
          const { mean } = allReduce.allReduceMean(rank, 128, false, 60_000);
          update.apply(mean, step);
        }
        if (step > 0) times[path].push(performance.now() - start);
      }
    }
  }
  parentPort.postMessage(times);
} else {
  const { values: args } = parseArgs({ options: { blocks: { type: 'string', default: '10' } } });
  const loadAtStart = os.loadavg();
  const { model, variables } = await replica();
  const params = model.countParams();
  const barrier = SharedBarrier.create(W);
  const allReduce = SharedAllReduce.create(params + 1, barrier, javascriptLoops);
  const optimizers = [0, 1].map(() => ShardedOptimizer.create(spec, params).handle);
  const workers = Array.from(
    { length: W },
    (_, rank) =>
      new Worker(new URL(import.meta.url), {
        workerData: { rank, barrier: barrier.handle, allReduce: allReduce.handle, optimizers, blocks: Number(args.blocks) },
      }),
  );
  const results = await Promise.all(workers.map((w) => new Promise((resolve, reject) => w.on('message', resolve).on('error', reject))));
  console.log(
    `${os.cpus()[0]?.model}, ${os.availableParallelism()} cores; load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at the start`,
  );
  console.log(`\n| ${denseModel}, W = ${W}, exchange + update + reload, ms per step (both ranks) | median (interquartile range) |`);
  console.log('| --- | ---: |');
  for (const path of ['three barriers', 'fused']) console.log(`| ${path} | ${quartiles(results.flatMap((r) => r[path]))} |`);

  // One thread: the parts, each pair alternating, 60 rounds.
  const loops = exchangeLoops();
  const shared = (n) => new Float32Array(new SharedArrayBuffer(n * 4));
  const stride = allReduce.handle.stride;
  const chunk = Math.ceil(params / W);
  const slots = shared(stride * W).map((_, i) => Math.sin(i) * 1e-3);
  const [mean, w, m, v] = [shared(stride), shared(params).fill(0.01), shared(params), shared(params)];
  const gradient = Float32Array.from({ length: params }, (_, i) => Math.cos(i) * 1e-3);
  const shares = Float64Array.of(0.5, 0.5);
  const adamScalars = (t) => [learningRate / (1 - 0.9 ** t), 1 / Math.sqrt(1 - 0.999 ** t), 0.9, 0.999, 1e-7];
  const weights = shared(params).map((_, i) => Math.sin(i) * 0.01);
  const reload = new WeightReload(model, variables);
  const tensorReload = () =>
    tf.tidy(() => {
      let offset = 0;
      for (const variable of variables) variable.assign(tf.tensor(weights.subarray(offset, (offset += variable.size)), variable.shape));
    });
  const pairs = {
    'gradient into the slot': { before: () => slots.set(gradient), now: () => loops.copyBounded(gradient, slots, 0, FUSED_BOUND) },
    "a rank's chunk: mean, then Adam": {
      before: (t) => {
        loops.weightedSum(slots, stride, shares, 0, chunk, mean);
        loops.adam(w, m, v, mean, 0, chunk, ...adamScalars(t));
      },
      now: (t) =>
        loops.averagedUpdate(UPDATE_RULES.adam, slots, stride, shares, 0, chunk, [w, m, v], 1, Float64Array.of(...adamScalars(t))),
    },
    'reload of the weights': { before: tensorReload, now: () => reload.load(weights) },
  };
  console.log('\n| one thread, ms | before | now | before / now (median of the rounds) |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, { before, now }] of Object.entries(pairs)) {
    const times = { before: [], now: [] };
    for (let round = 0; round < 63; round++) {
      for (const [key, run] of round % 2
        ? [
            ['now', now],
            ['before', before],
          ]
        : [
            ['before', before],
            ['now', now],
          ]) {
        const start = performance.now();
        run(round + 1);
        if (round >= 3) times[key].push(performance.now() - start);
      }
    }
    const ratios = times.before.map((b, i) => b / times.now[i]).sort((a, b) => a - b);
    console.log(`| ${name} | ${quartiles(times.before)} | ${quartiles(times.now)} | ${ratios[ratios.length >> 1].toFixed(2)}x |`);
  }
  console.log(
    `\nload average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end`,
  );
}
