// Side-by-side training speed of worker x BLAS-thread settings (and PyTorch's best setting), interleaved:
// every round runs each configuration once, in a process of its own, in turn; the report gives each
// configuration's median over the rounds with its range, and each one's ratio to PyTorch taken round by round.
//   npm run build && node bench/threads-ab.mjs [--rounds 5] [--steps 16] [--model mlp:1024,1024] \
//     [--configs 1x1,1x2,2x1] [--base DIR] [--no-pytorch] [--out FILE]
// A configuration is WxT (workers x OpenBLAS threads per worker), optionally @DIR to run another checkout's
// build (e.g. main's, for a before/after). The job is bench/settings.mjs's KD training (Adam, batch 256);
// PyTorch (bench/pytorch_kd.py, no settings: its best here) runs only for the settings' dense model.
// A child run: node bench/threads-ab.mjs --child --workers W --threads T --model SPEC --steps N [--root DIR]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_SETTINGS } from './settings.mjs';

const { values: args } = parseArgs({
  options: {
    child: { type: 'boolean' },
    workers: { type: 'string', default: '1' },
    threads: { type: 'string', default: '1' },
    root: { type: 'string' },
    model: { type: 'string', default: BENCH_SETTINGS.full.denseModel },
    steps: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    configs: { type: 'string', default: '1x1,1x2,2x1' },
    'no-pytorch': { type: 'boolean' },
    out: { type: 'string' },
  },
});
const settings = BENCH_SETTINGS.full;
const here = new URL('.', import.meta.url).pathname;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

if (args.child) {
  const root = resolve(args.root ?? join(here, '..'));
  const load = (path) => import(join(root, 'dist', path));
  const tf = await import('@tensorflow/tfjs');
  const { loadMnist } = await load('data/mnist.js');
  const { SharedDataset } = await load('data/shared-dataset.js');
  const { LogitTable } = await load('data/logit-table.js');
  const { trainDataParallel } = await load('train/data-parallel.js');
  const { planPhase } = await load('train/plan.js');
  const { buildModel } = await load('models/architectures.js');
  const { modelToData, shareModel } = await load('models/model-data.js');
  const { TfjsPool } = await load('pool/tfjs-pool.js');
  const { mulberry32 } = await load('random.js');
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const workers = Number(args.workers);
  const threads = Number(args.threads);
  const steps = Number(args.steps);
  const { train } = await loadMnist();
  const data = SharedDataset.fromDataset(train, 'train');
  const model = buildModel(args.model, { inputShape: data.featureShape, numClasses: data.numClasses, seed: 1 });
  const params = model.countParams();
  const handle = shareModel(await modelToData(model));
  model.dispose();
  const soft = LogitTable.create(data.rows, data.numClasses);
  const random = mulberry32(3);
  for (let i = 0; i < soft.values.length; i++) soft.values[i] = random() * 8 - 4;
  const rows = Int32Array.from({ length: data.rows }, (_, i) => i);
  // main's pool has no threadsPerWorker: it gets 1 x W either way.
  const pool = await TfjsPool.startTfjs({
    workers,
    backend: 'wasm',
    kernels: 'openblas',
    barrierTimeoutMs: 600_000,
    threadsPerWorker: threads,
  });
  const runs = [];
  for (let run = 0; run <= Number(args.runs); run++) {
    const outcome = await trainDataParallel(pool, {
      phase: 'student',
      model: handle,
      trainableParams: params,
      data,
      rows,
      softLabels: soft,
      loss: { name: 'kd', temperature: settings.temperature, alpha: settings.alpha },
      optimizer: { name: 'adam', learningRate: settings.learningRate },
      plan: planPhase({ rows: rows.length, batchSize: settings.batchSize, workers, steps: steps + 1 }),
      seed: 1,
      onNonFinite: 'abort',
      onProgress: () => {},
    });
    // The first run warms the process up; each run's first step pays one-off costs and is left out.
    if (run > 0)
      runs.push({
        samplesPerSec: (outcome.samples - settings.batchSize) / (outcome.seconds - outcome.firstStepSeconds),
        stepMs: outcome.stepMs,
        finalLoss: outcome.finalLoss,
      });
  }
  await pool.destroy();
  const middle = median(runs.map((r) => r.samplesPerSec));
  process.stdout.write(JSON.stringify(runs.find((r) => r.samplesPerSec === middle)));
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'threads-ab-'));
const configs = args.configs.split(',').map((text) => {
  const [shape, root] = text.split('@');
  const [workers, threads] = shape.split('x').map(Number);
  return { name: text, workers, threads, root };
});
const pytorch = !args['no-pytorch'] && args.model === settings.denseModel;
const results = Object.fromEntries([...configs.map((c) => [c.name, []]), ...(pytorch ? [['pytorch', []]] : [])]);
const rounds = Number(args.rounds);
for (let round = 0; round < rounds; round++) {
  // Rotated each round, so that no configuration always runs first (or right after PyTorch).
  const order = [...configs, ...(pytorch ? [{ name: 'pytorch' }] : [])];
  const turn = order.slice(round % order.length).concat(order.slice(0, round % order.length));
  for (const config of turn) {
    if (config.name === 'pytorch') {
      const out = join(dir, `pytorch-${round}.json`);
      const env = { ...process.env };
      for (const name of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'OMP_WAIT_POLICY']) delete env[name];
      execFileSync(
        '/usr/bin/python3',
        [join(here, 'pytorch_kd.py'), '--threads', '0', '--steps', args.steps, '--label-rows', '256', '--out', out]
          .concat(['--batch', String(settings.batchSize), '--temperature', String(settings.temperature)])
          .concat(['--alpha', String(settings.alpha), '--lr', String(settings.learningRate), '--repeats', args.runs]),
        { env, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      results.pytorch.push({ samplesPerSec: JSON.parse(readFileSync(out, 'utf8')).result.train });
    } else {
      const childArgs = ['--child', '--workers', String(config.workers), '--threads', String(config.threads)]
        .concat(['--model', args.model, '--steps', args.steps, '--runs', args.runs])
        .concat(config.root ? ['--root', config.root] : []);
      const output = execFileSync(process.execPath, [new URL(import.meta.url).pathname, ...childArgs], { encoding: 'utf8' });
      results[config.name].push(JSON.parse(output));
    }
    const last = results[config.name].at(-1);
    console.error(`round ${round + 1} ${config.name}: ${Math.round(last.samplesPerSec)} samples/s`);
  }
}

const range = (values) => `${Math.round(Math.min(...values))}-${Math.round(Math.max(...values))}`;
const ratioRange = (values) => `${median(values).toFixed(2)}x (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})`;
console.log(
  `${args.model}, batch ${settings.batchSize}, ${args.steps} steps x ${args.runs} runs per process, ${rounds} interleaved rounds`,
);
for (const [name, runs] of Object.entries(results)) {
  const rates = runs.map((r) => r.samplesPerSec);
  const step = runs.find((r) => r.samplesPerSec === median(rates))?.stepMs;
  const parts = step
    ? ` step ms: gradient ${step.gradient.toFixed(1)}, averaging ${step.averaging.toFixed(2)} (waiting ${step.waiting.toFixed(2)}), update ${step.update.toFixed(2)}`
    : '';
  const vsTorch =
    pytorch && name !== 'pytorch' ? `; / pytorch ${ratioRange(rates.map((r, i) => r / results.pytorch[i].samplesPerSec))}` : '';
  console.log(`${name.padEnd(8)} ${Math.round(median(rates))} samples/s (${range(rates)})${vsTorch};${parts}`);
}
if (args.out) writeFileSync(args.out, JSON.stringify(results, null, 1));
