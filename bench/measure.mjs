// One worker count, one kernel setting, in a process of its own (so its resident memory is its own):
// labelling (the dense student shape and a CNN teacher) and data-parallel KD training of the dense model
// (at the bench's global batch and, above one worker, at that many rows per worker) and of the CNN (at
// the global batch); FLOPs as bench/metrics.mjs flopsPerSample counts them; timed with tinybench,
// each run by the phase's own clock. Called by bench/run.mjs:
//   node --expose-gc bench/measure.mjs --workers W --kernels openblas|wasm [--threads T] [--quick] --out FILE
// (--threads: OpenBLAS threads per worker, with --workers 1 only; default 1)
// With --onnx FILE (the CNN exported by bench/export_cnn_onnx.py) it measures only the ONNX teacher's
// labelling, by onnxruntime-node sessions in the pool's threads (one each, one thread each), of the same
// rows as the tfjs CNN's, in a process of its own so that its resident memory is its own:
//   node --expose-gc bench/measure.mjs --workers W --onnx FILE [--quick] --out FILE
// With --kernels onnxruntime-export it measures only the labelling of the dense and CNN tfjs teachers as a
// user with onnxruntime-node installed gets it by default (teacherRuntime 'auto'): their graphs exported to
// ONNX in JS and run by onnxruntime sessions in the pool's threads.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import * as tf from '@tensorflow/tfjs';
import { LogitTable } from '../dist/data/logit-table.js';
import { loadMnist } from '../dist/data/mnist.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { takeRows } from '../dist/data/dataset.js';
import { computeLogits } from '../dist/infer/logits.js';
import { layersInference } from '../dist/infer/predictor.js';
import { trainDataParallel } from '../dist/train/data-parallel.js';
import { planPhase } from '../dist/train/plan.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { openOnnxTeacher } from '../dist/models/onnx-teacher.js';
import { teacherOnRuntime } from '../dist/teachers/teacher-runtime.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { mulberry32 } from '../dist/random.js';
import { averagingShares, flopsPerSample, median, rssMBPerWorker } from './metrics.mjs';
import { describeLayers } from './model-layers.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string' },
    kernels: { type: 'string' },
    threads: { type: 'string', default: '1' },
    onnx: { type: 'string' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
  },
});
const workers = Number(args.workers);
const EXPORTED = 'onnxruntime-export';
const exported = args.kernels === EXPORTED;
const settings = BENCH_SETTINGS[args.quick ? 'quick' : 'full'];
tf.env().set('PROD', true);
await tf.setBackend('cpu');

const { train } = await loadMnist();
const data = SharedDataset.fromDataset(train, 'train');
const labelData = settings.labelRows >= data.rows ? data : SharedDataset.fromDataset(takeRows(train, settings.labelRows), 'train');
const shape = { inputShape: data.featureShape, numClasses: data.numClasses };
// The ONNX rows are the tfjs CNN's layer shapes run by onnxruntime: their FLOPs are counted off the tfjs model.
const subjects = Object.fromEntries(
  await Promise.all(
    (args.onnx ? [settings.cnnModel] : [settings.denseModel, settings.cnnModel]).map(async (spec) => {
      const model = buildModel(spec, { ...shape, seed: 1 });
      const layers = describeLayers(model);
      const flops = { label: flopsPerSample(layers, 'label'), train: flopsPerSample(layers, 'train') };
      const modelData = await modelToData(model);
      const subject = { spec, params: model.countParams(), flops, handle: shareModel(modelData), modelData };
      model.dispose();
      return [spec, subject];
    }),
  ),
);
// Soft labels: any finite logits cost the same; seeded, so every run trains on the same numbers.
const soft = LogitTable.create(data.rows, data.numClasses);
const random = mulberry32(3);
for (let i = 0; i < soft.values.length; i++) soft.values[i] = random() * 8 - 4;
const rows = Int32Array.from({ length: data.rows }, (_, i) => i);
// Opened (and its check session released) before the memory baseline.
const onnx = args.onnx && (await openOnnxTeacher(args.onnx, { featureShape: labelData.featureShape, numClasses: labelData.numClasses }));
// What each tfjs teacher labels with: its layers on the pool's kernels, or its exported graph on onnxruntime.
const inference = {};
for (const subject of Object.values(subjects)) {
  if (!exported) inference[subject.spec] = layersInference(subject.handle);
  else inference[subject.spec] = (await teacherOnRuntime(subject.modelData, 'onnxruntime', undefined)).model;
}

globalThis.gc?.();
const rssBeforePool = process.memoryUsage().rss;
const pool = await TfjsPool.startTfjs({
  workers,
  backend: 'wasm',
  barrierTimeoutMs: 600_000,
  kernels: args.onnx || exported ? 'wasm' : args.kernels,
  threadsPerWorker: Number(args.threads),
});
// What the pool's threads actually run (auto falls back to wasm without OpenBLAS); onnxruntime for the ONNX rows.
const threads = Number(args.threads);
// A worker on several BLAS threads is a setting of its own, told apart in every table by its kernels.
const kernels = args.onnx ? 'onnxruntime' : exported ? EXPORTED : threads > 1 ? `${pool.kernels}, ${threads} BLAS threads` : pool.kernels;

const bench = new Bench({ time: settings.benchMs, iterations: settings.iterations, warmupIterations: 1, warmupTime: 0, throws: true });
const measured = new Map(); // task -> per-iteration { samplesPerSec, share? }
let measuring = false; // tinybench runs the same function for the warm-up: those runs are not recorded
const hooks = {
  beforeAll: (mode) => {
    measuring = mode === 'run';
  },
};
const record = (task, value) => measuring && measured.set(task, [...(measured.get(task) ?? []), value]);
if (onnx) {
  bench.add(
    `label ${settings.cnnModel}`,
    async () => {
      const run = await computeLogits(pool, onnx.spec, labelData, { phase: 'label', onProgress: () => {} });
      record(`label ${settings.cnnModel}`, { samplesPerSec: labelData.rows / run.seconds });
    },
    hooks,
  );
  subjects[settings.cnnModel].params = onnx.params;
}
for (const spec of onnx ? [] : [settings.denseModel, settings.cnnModel]) {
  bench.add(
    `label ${spec}`,
    async () => {
      const run = await computeLogits(pool, inference[spec], labelData, { phase: 'label', onProgress: () => {} });
      record(`label ${spec}`, { samplesPerSec: labelData.rows / run.seconds });
    },
    hooks,
  );
}
// The dense model trained twice: at the bench's global batch (every W splits the same 256 rows: strong
// scaling), and, above one worker, at that many rows per worker (global batch 256 x W: weak scaling, how
// data-parallel training is usually scaled out). At W = 1 the two are the same job, measured once. The
// CNN at the global batch alone.
const trainBatches =
  onnx || exported ? {} : { [`train ${settings.denseModel}`]: settings.batchSize, [`train ${settings.cnnModel}`]: settings.batchSize };
if (workers > 1 && !onnx && !exported) trainBatches[`train-per-worker ${settings.denseModel}`] = settings.batchSize * workers;
for (const [task, batchSize] of Object.entries(trainBatches)) {
  bench.add(
    task,
    async () => {
      const subject = subjects[task.split(' ')[1]];
      const outcome = await trainDataParallel(pool, {
        phase: 'student',
        model: subject.handle,
        trainableParams: subject.params,
        data,
        rows,
        softLabels: soft,
        loss: { name: 'kd', temperature: settings.temperature, alpha: settings.alpha },
        optimizer: { name: 'adam', learningRate: settings.learningRate },
        // a first step, timed apart, then the measured ones
        plan: planPhase({ rows: rows.length, batchSize, workers, steps: settings.trainSteps + 1 }),
        seed: 1,
        onNonFinite: 'abort',
        onProgress: () => {},
      });
      // Steady state, as the references are measured (each warms up first): the run's first step, which
      // pays one-off costs (first touches of the fresh shared buffers, wasm heap growth), is left out.
      const samplesPerSec = (outcome.samples - batchSize) / (outcome.seconds - outcome.firstStepSeconds);
      const shares = averagingShares(outcome.stepMs);
      record(task, {
        samplesPerSec,
        firstStepMs: outcome.firstStepSeconds * 1000,
        share: shares.averaging,
        waitShare: shares.waiting,
        stepMs: outcome.stepMs,
      });
    },
    hooks,
  );
}
await bench.run();

globalThis.gc?.();
const rssWithPool = process.memoryUsage().rss;
await pool.destroy();

const results = [...measured].flatMap(([task, runs]) => {
  const [kind, spec] = task.split(' ');
  const phase = kind === 'label' ? 'label' : 'train';
  const subject = subjects[spec];
  const samplesPerSec = median(runs.map((r) => r.samplesPerSec));
  const flops = subject.flops[phase];
  // The run with the median allreduce share: where its step time went, per step, averaged over the ranks.
  const middleShare = phase === 'train' ? median(runs.map((r) => r.share)) : undefined;
  const middle = runs.find((r) => middleShare !== undefined && r.share === middleShare);
  const row = {
    phase,
    model: spec,
    params: subject.params,
    kernels,
    workers,
    threads,
    batchSize: phase === 'train' ? trainBatches[task] : undefined,
    samplesPerSec,
    gflops: (samplesPerSec * flops) / 1e9,
    allreduceShare: middle ? middle.share : null,
    waitShare: middle ? middle.waitShare : null,
    stepMs: middle?.stepMs,
    firstStepMs: middle?.firstStepMs,
    rssMBPerWorker: rssMBPerWorker(rssBeforePool, rssWithPool, workers),
    runs: runs.length,
  };
  if (kind === 'label') return [row];
  const perWorker = { ...row, rowsPerWorker: settings.batchSize };
  // At W = 1 the global batch is the rows per worker: the one run belongs to both series (the dense model's).
  if (kind === 'train-per-worker') return [perWorker];
  return workers === 1 && spec === settings.denseModel ? [row, perWorker] : [row];
});
await writeFile(args.out, JSON.stringify({ kernels, results }));
