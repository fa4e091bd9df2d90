// Where a training step's time goes, for the dense and CNN students, against the step's GEMM floor.
// Two views of the same KD step (Adam, the bench's job from bench/settings.mjs):
// - in one thread, as a worker runs it (wasm backend, tfjs-distill's OpenBLAS kernels, one BLAS thread):
//   replica-step.ts's own gradientPass and ShardUpdate on one rank's rows, the pass timed whole by the
//   clock and per kernel by tf.profile; kernels are grouped as GEMM and conv kernels, the loss (its
//   forward and backward timed apart by the clock on logits of the same shape), other element-wise and activation
//   kernels; the pass's time outside any kernel is tfjs's dispatch, tensor creation and copies. The update
//   is split into the optimizer on this rank's chunk and the reload of the shared weights into the replica.
//   The same pass is also timed with ReLU's native gradient and with tfjs's own, alternating (an A/B), and a
//   plain dense student's pass as the workers run it, without tfjs's tape (dense-chain-step.ts).
// - in the pool (bench/measure.mjs's trainDataParallel run): the per-step gradient, averaging (of which
//   waiting for the slower rank) and update, as the ranks measured them.
// Every part is shown beside the GEMM floor: the step's GEMMs at the time OpenBLAS's sgemm (1 thread,
// through the addon) takes on each of the step's own shapes on this machine, timed alternately with the pass.
// Text students (bag, cnn1d) are profiled by bench/text-step-profile.mjs, whose output is appended.
//   node --expose-gc bench/step-profile.mjs [--quick] [--out bench/results/step-profile]
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { LogitTable } from '../dist/data/logit-table.js';
import { loadMnist } from '../dist/data/mnist.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { initBackend } from '../dist/kernels/backend.js';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { selectWasmKernels } from '../dist/kernels/kernel-choice.js';
import { nativeDenseChainLoops } from '../dist/kernels/dense-chain-loops.js';
import { buildModel } from '../dist/models/architectures.js';
import { denseChain } from '../dist/models/dense-chain.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { mulberry32 } from '../dist/random.js';
import { trainDataParallel } from '../dist/train/data-parallel.js';
import { meanLoss } from '../dist/train/losses.js';
import { ShardedOptimizer } from '../dist/train/optimizers.js';
import { planPhase } from '../dist/train/plan.js';
import { ShardUpdate, gradientPass } from '../dist/train/replica-step.js';
import { median, stepGemms } from './metrics.mjs';
import { describeLayers } from './model-layers.mjs';
import { BENCH_SETTINGS } from './settings.mjs';
import { groupKernels, renderProfile } from './step-profile-render.mjs';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean' }, out: { type: 'string' } } });
const out = args.out ?? 'bench/results/step-profile';
const settings = BENCH_SETTINGS[args.quick ? 'quick' : 'full'];
const rounds = args.quick ? 9 : 25; // timed passes per measurement (after warm-up)
const profiledPasses = args.quick ? 3 : 7;
const poolSteps = args.quick ? 12 : 40;
const workerCounts = [1, 2];
const loadAtStart = os.loadavg();
tf.env().set('PROD', true);

const { train } = await loadMnist();
const data = SharedDataset.fromDataset(train, 'train');
const soft = LogitTable.create(data.rows, data.numClasses);
const random = mulberry32(3);
for (let i = 0; i < soft.values.length; i++) soft.values[i] = random() * 8 - 4;
const loss = { name: 'kd', temperature: settings.temperature, alpha: settings.alpha };
const optimizerSpec = { name: 'adam', learningRate: settings.learningRate };
const specs = [settings.denseModel, settings.cnnModel];
const perWorkerRows = workerCounts.map((w) => Math.ceil(settings.batchSize / w));

// The floor: OpenBLAS's sgemm through the addon (as bench/gemm-floor.mjs times it) on each GEMM shape of a
// step, one call each, summed. It is timed in the same rounds as the pass, alternating with it, so that other
// tenants' load hits both alike; its figure is the median over those rounds.
const blasLoad = loadBlas();
if (!('blas' in blasLoad)) throw new Error(`the step profile needs the openblas kernels: ${blasLoad.error}`);
function floorTimer(layers, rows) {
  const gemms = stepGemms(layers, rows, 'train');
  const floats = Math.max(...gemms.map((g) => g.m * g.k + g.k * g.n + g.m * g.n));
  const heap = new ArrayBuffer(floats * 4);
  new Float32Array(heap).forEach((_, i, a) => {
    a[i] = ((i % 97) - 48) / 97; // small values: denormals or NaNs would time apart
  });
  const calls = gemms.map(
    (g) => () =>
      blasLoad.blas.gemm(heap, g.transA, g.transB, g.m, g.n, g.k, Int32Array.of(0), Int32Array.of(g.m * g.k), g.m * g.k + g.k * g.n),
  );
  return () => calls.reduce((ms, call) => ms + timeMs(call), 0);
}

const init = await initBackend(['wasm'], 'openblas');
// tfjs's own Relu gradient (the wasm kernel set keeps it), for the A/B against the native one.
selectWasmKernels('wasm', tf.backend());
const tfjsReluGradient = tf.getGradient('Relu');
selectWasmKernels('openblas', tf.backend());
const nativeReluGradient = tf.getGradient('Relu');
/** The pass's time with the native Relu gradient and with tfjs's, alternating, each the median of its rounds. */
function reluGradientAB(fn) {
  const times = { native: [], tfjs: [] };
  for (let i = 0; i < rounds + 3; i++) {
    for (const [name, config] of [
      ['native', nativeReluGradient],
      ['tfjs', tfjsReluGradient],
    ]) {
      tf.registerGradient(config);
      const ms = timeMs(fn);
      if (i >= 3) times[name].push(ms);
    }
  }
  tf.registerGradient(nativeReluGradient);
  return { nativeMs: median(times.native), tfjsMs: median(times.tfjs), ratios: times.native.map((t, i) => times.tfjs[i] / t) };
}
const timeMs = (fn) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
const timed = (fn) => {
  for (let i = 0; i < 3; i++) fn();
  return median(Array.from({ length: rounds }, () => timeMs(fn)));
};
/** The pass and the floor, alternating: each one's median, and the median of the rounds' ratios. */
function timedAgainstFloor(fn, floor) {
  for (let i = 0; i < 3; i++) {
    fn();
    floor();
  }
  const passes = [];
  const floors = [];
  for (let i = 0; i < rounds; i++) {
    floors.push(floor());
    passes.push(timeMs(fn));
  }
  return { passMs: median(passes), floorMs: median(floors), passOverFloor: median(passes.map((p, i) => p / floors[i])) };
}
// Each kernel's time, the median over several profiled passes (one pass alone is at the mercy of a GC pause).
// tf.profile also lists ops with a custom gradient (fusedMatMul__op, forward) around the kernels they run:
// only registered kernels are counted, so no time is counted twice.
async function kernelTimes(fn) {
  const passes = [];
  for (let i = 0; i < profiledPasses; i++) {
    const profile = await tf.profile(fn);
    const byName = new Map();
    for (const k of profile.kernels) {
      if (!tf.getKernel(k.name, tf.getBackend())) continue;
      byName.set(k.name, (byName.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
    }
    passes.push(byName);
  }
  const names = new Set(passes.flatMap((p) => [...p.keys()]));
  return new Map([...names].map((name) => [name, median(passes.map((p) => p.get(name) ?? 0))]));
}

/** The dense chain's pass against the floor, alternating (undefined for a model that is not a chain). */
function chainPassAgainstFloor(model, variables, task, rows, floor) {
  const chain = denseChain(model);
  if (!chain) return undefined;
  const weights = new Float32Array(task.optimizer.weights);
  let offset = 0;
  for (const v of variables) {
    weights.set(v.dataSync(), offset); // the model's own weights, as rank 0 publishes them
    offset += v.size;
  }
  const slot = new Float32Array(offset + 1);
  const loops = nativeDenseChainLoops(blasLoad.blas);
  const pass = gradientPass(task, model, data, data.featureShape, variables, slot, undefined, { chain, loops });
  return timedAgainstFloor(() => pass(batch, 0, rows, 0), floor);
}

const batch = Int32Array.from({ length: settings.batchSize }, (_, i) => (i * 7919) % data.rows);
const inThread = [];
for (const spec of specs) {
  const model = buildModel(spec, { inputShape: data.featureShape, numClasses: data.numClasses, seed: 1 });
  const layers = describeLayers(model);
  const variables = model.trainableWeights.map((w) => w.read());
  const params = variables.reduce((n, v) => n + v.size, 0);
  for (const [i, workers] of workerCounts.entries()) {
    const rows = perWorkerRows[i];
    const task = {
      rank: 0,
      softLabels: soft.handle,
      plan: { maxRowsPerRank: rows, steps: 1_000_000 },
      loss,
      seed: 1,
      optimizer: ShardedOptimizer.create(optimizerSpec, params).handle,
      rules: { lrSchedule: { name: 'constant' }, weightDecay: 0, clipNorm: null },
      norms: new SharedArrayBuffer(8),
    };
    const slot = new Float32Array(params + 1);
    const pass = gradientPass(task, model, data, data.featureShape, variables, slot);
    const { passMs, floorMs, passOverFloor } = timedAgainstFloor(() => pass(batch, 0, rows, 0), floorTimer(layers, rows));
    // A plain dense student's pass as the workers run it (dense-chain-step.ts), reading the shared weights.
    const chain = chainPassAgainstFloor(model, variables, task, rows, floorTimer(layers, rows));
    const kernels = await kernelTimes(() => pass(batch, 0, rows, 0));
    const reluAB = reluGradientAB(() => pass(batch, 0, rows, 0));
    // The gradient alone, on the model's largest ReLU activation (the first layer's output). Not read back:
    // the wasm kernels have run when the op returns, and reading megabytes back would swamp the kernel.
    const activation = [rows, ...model.layers.find((l) => l.getConfig().activation === 'relu').outputShape.slice(1)];
    const [xs, dys] = [tf.randomNormal(activation, 0, 1, 'float32', 2), tf.randomNormal(activation, 0, 1, 'float32', 3)];
    const reluGradient = tf.grad((t) => tf.relu(t));
    const reluKernelAB = { shape: activation, ...reluGradientAB(() => tf.tidy(() => void reluGradient(xs, dys))) };
    tf.dispose([xs, dys]);
    // The loss alone, forward and backward, on logits of the pass's shape.
    const logits = tf.variable(tf.randomNormal([rows, data.numClasses], 0, 2, 'float32', 1));
    const teacher = tf.tensor2d(soft.values.subarray(0, rows * data.numClasses), [rows, data.numClasses]);
    const labels = tf.tensor1d(
      Int32Array.from({ length: rows }, (_, r) => r % data.numClasses),
      'int32',
    );
    const lossPass = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => meanLoss(loss, { student: logits, teacher, labels }), [logits]);
        grads[logits.name].dataSync();
        value.dataSync();
      });
    const lossMs = timed(lossPass);
    const lossKernels = await kernelTimes(lossPass);
    tf.dispose([logits, teacher, labels]);
    // The update on this rank's chunk (1/W of the weights), then the reload of every shared weight.
    const chunk = Math.ceil(params / workers);
    const update = new ShardUpdate(task, model, variables, [0, chunk], () => {});
    const mean = slot.subarray(0, params).map((x) => x * 1e-3);
    const updateMs = timed(() => update.apply(mean, 0));
    let iteration = 1;
    const optimizerMs = timed(() => update.optimizer.update(mean, 0, chunk, iteration++));
    inThread.push({
      spec,
      params,
      workers,
      rows,
      passMs,
      groups: groupKernels(kernels, lossKernels, lossMs),
      optimizerMs,
      reloadMs: updateMs - optimizerMs,
      reluAB,
      reluKernelAB,
      floorMs,
      passOverFloor,
      chain,
    });
    console.log(`${spec}, ${rows} rows: pass ${passMs.toFixed(1)} ms, update ${updateMs.toFixed(1)} ms, floor ${floorMs.toFixed(1)} ms`);
  }
  model.dispose();
}

// The same steps in the pool, as trainDataParallel runs them.
const inPool = [];
const shared = Object.fromEntries(
  await Promise.all(
    specs.map(async (spec) => {
      const model = buildModel(spec, { inputShape: data.featureShape, numClasses: data.numClasses, seed: 1 });
      const entry = [spec, { handle: shareModel(await modelToData(model)), params: model.countParams() }];
      model.dispose();
      return entry;
    }),
  ),
);
const allRows = Int32Array.from({ length: data.rows }, (_, i) => i);
for (const workers of workerCounts) {
  const pool = await TfjsPool.startTfjs({ workers, backend: 'wasm', barrierTimeoutMs: 600_000, kernels: 'openblas', threadsPerWorker: 1 });
  for (const spec of specs) {
    const runs = [];
    for (let r = 0; r < 3; r++) {
      const outcome = await trainDataParallel(pool, {
        phase: 'student',
        model: shared[spec].handle,
        trainableParams: shared[spec].params,
        data,
        rows: allRows,
        softLabels: soft,
        loss,
        optimizer: optimizerSpec,
        plan: planPhase({ rows: allRows.length, batchSize: settings.batchSize, workers, steps: poolSteps + 1 }),
        seed: 1,
        onNonFinite: 'abort',
        onProgress: () => {},
      });
      runs.push(outcome.stepMs);
    }
    const total = (s) => s.gradient + s.averaging + s.update;
    const middle = median(runs.map(total));
    inPool.push({ spec, workers, rows: Math.ceil(settings.batchSize / workers), stepMs: runs.find((s) => total(s) === middle) });
  }
  await pool.destroy();
}

// Text students: the existing profile script, in a process of its own.
const text = execFileSync(process.execPath, ['bench/text-step-profile.mjs', '--steps', args.quick ? '8' : '20'], { encoding: 'utf8' });

const result = {
  processor: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  kernels: init.kernels,
  blas: blasLoad.library,
  loadAverage: { start: loadAtStart, end: os.loadavg() },
  rounds,
  profiledPasses,
  poolSteps,
  inThread,
  inPool,
  text,
};
await writeFile(`${out}.json`, `${JSON.stringify(result, null, 1)}\n`);
await writeFile(`${out}.md`, renderProfile(result));
console.log(renderProfile(result));
