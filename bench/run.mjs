// Throughput of the two parallel phases, labelling and data-parallel training, at 1..W workers, measured
// side by side in one run with tinybench, next to the machine's own scaling of a plain CPU-bound loop. `npm run bench` (add `-- --quick` for a shorter run) prints a
// table and writes bench/results/latest.json. Speed-ups are ratios against W = 1 from the same run.
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';
import * as tf from '@tensorflow/tfjs';
import { takeRows } from '../dist/data/dataset.js';
import { loadMnist } from '../dist/data/mnist.js';
import { LogitTable } from '../dist/data/logit-table.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { computeLogits } from '../dist/distill/label.js';
import { trainDataParallel } from '../dist/distill/train.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { WorkerPool } from '../dist/parallel/pool.js';

tf.env().set('PROD', true);
await tf.setBackend('cpu');
const quick = process.argv.includes('--quick');
const maxWorkers = availableParallelism();
const workerCounts = [...new Set([1, 2, 4, 8, 16, maxWorkers].filter((w) => w <= maxWorkers))].sort((a, b) => a - b);

// The bundled digits; the student trains on the teacher's logits, as in a real run.
const { train } = await loadMnist();
const data = SharedDataset.fromDataset(train, 'train');
const rows = Int32Array.from({ length: data.rows }, (_, i) => i);
const shape = { inputShape: data.featureShape, numClasses: data.numClasses };
const models = {
  label: { name: 'cnn:16,32', model: buildModel('cnn:16,32', { ...shape, seed: 1 }) },
  train: { name: 'mlp:256,256', model: buildModel('mlp:256,256', { ...shape, seed: 2 }) },
};
const teacher = shareModel(await modelToData(models.label.model));
const student = shareModel(await modelToData(models.train.model));
const soft = LogitTable.create(data.rows, data.numClasses);
soft.values.fill(0);
const BATCH = 256;
const STEPS = quick ? 10 : 30;
const LABEL_ROWS = quick ? 4096 : data.rows;
const labelData = LABEL_ROWS === data.rows ? data : SharedDataset.fromDataset(takeRows(train, LABEL_ROWS), 'train');

const pools = new Map();
for (const workers of workerCounts) pools.set(workers, await WorkerPool.start({ workers, backend: 'wasm', barrierTimeoutMs: 600_000 }));
const backend = pools.get(1).backend;

const bench = new Bench({ name: 'tfjs-distill scaling', time: quick ? 1000 : 4000, iterations: quick ? 2 : 5, warmupIterations: 1 });
const measured = new Map(); // task name -> samples/s of each iteration, from the phase's own clock
const record = (name, value) => measured.set(name, [...(measured.get(name) ?? []), value]);
for (const [workers, pool] of pools) {
  bench.add(`label W=${workers}`, async () => {
    const run = await computeLogits(pool, teacher, labelData, { phase: 'label', onProgress: () => {} });
    record(`label W=${workers}`, labelData.rows / run.seconds);
  });
  bench.add(`train W=${workers}`, async () => {
    const outcome = await trainDataParallel(pool, {
      phase: 'student',
      model: student,
      trainableParams: models.train.model.countParams(),
      data,
      rows,
      softLabels: soft,
      loss: { name: 'kd', temperature: 4, alpha: 0.9 },
      optimizer: { name: 'adam', learningRate: 1e-3 },
      batchSize: BATCH,
      steps: STEPS,
      seed: 1,
      onProgress: () => {},
    });
    record(`train W=${workers}`, outcome.samples / outcome.seconds);
  });
}
// The machine's own ceiling: a CPU-bound JavaScript loop in W plain worker threads. On a VM whose cores
// are shared, W threads of it run less than W times as fast, and no pool can beat that.
const LOOP = 'let x = 0; for (let i = 0; i < 1e8; i++) x += Math.sqrt(i); require("node:worker_threads").parentPort.postMessage(x);';
async function cpuLoops(workers) {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, () => new Promise((resolve, reject) => {
      const worker = new Worker(LOOP, { eval: true });
      worker.once('message', () => worker.terminate().then(resolve));
      worker.once('error', reject);
    })),
  );
  return workers / ((performance.now() - started) / 1000); // loops per second
}
for (const workers of workerCounts) {
  bench.add(`reference W=${workers}`, async () => {
    record(`reference W=${workers}`, await cpuLoops(workers));
  });
}
await bench.run();
for (const pool of pools.values()) await pool.destroy();

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = [];
const subjects = { ...models, reference: { name: 'JS loop (1e8 sqrt)', model: { countParams: () => null } } };
for (const phase of ['label', 'train', 'reference']) {
  const base = median(measured.get(`${phase} W=1`));
  for (const workers of workerCounts) {
    const samplesPerSec = median(measured.get(`${phase} W=${workers}`));
    results.push({
      phase,
      model: subjects[phase].name,
      params: subjects[phase].model.countParams(),
      workers,
      samplesPerSec: phase === 'reference' ? Number(samplesPerSec.toFixed(2)) : Math.round(samplesPerSec),
      speedup: Number((samplesPerSec / base).toFixed(2)),
      efficiency: Number((samplesPerSec / base / workers).toFixed(2)),
    });
  }
}
const report = {
  machine: { cpus: maxWorkers, node: process.version, backend },
  settings: { quick, batchSize: BATCH, trainSteps: STEPS, labelRows: labelData.rows },
  results,
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/latest.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

console.log(`backend ${backend}, ${maxWorkers} cpus, node ${process.version}${quick ? ', --quick' : ''}`);
console.log('| phase | model | params | workers | samples/s | speed-up vs 1 | efficiency |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(`| ${r.phase} | ${r.model} | ${r.params?.toLocaleString('en-US') ?? '-'} | ${r.workers} | ${r.samplesPerSec.toLocaleString('en-US')}${r.phase === 'reference' ? ' loops' : ''} | ${r.speedup.toFixed(2)}x | ${Math.round(r.efficiency * 100)}% |`);
}
console.log('\nwrote bench/results/latest.json');
