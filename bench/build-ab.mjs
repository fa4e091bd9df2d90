// Two builds of tfjs-distill side by side, alternating in one run so that other load hits both alike: the
// dense KD job of the bench (bench/settings.mjs) trained by each build's own code, in a process of its own
// per run, in turn, round after round. `--mode pool`: trainDataParallel on a pool of --workers threads, the
// per-step breakdown it returns (40 steps after a first one, per run) and a hash of the trained weights (equal
// when the builds compute the same values); `--mode cli`: `tfjs-distill run` as the headline runs it, the
// samples/s report.json gives (--epochs). Each ROOT is a package root with dist/ and native/build/ built (a
// git worktree of another commit after `npm ci`); this one is the default B.
//   node bench/build-ab.mjs --base ROOT [--other ROOT] [--mode pool|cli] [--rounds 4] [--workers 2] [--epochs 1]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { median } from './metrics.mjs';
import { npyFloat32 } from './npy-writer.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const run = promisify(execFile);
const here = fileURLToPath(import.meta.url);
const settings = BENCH_SETTINGS.full;
const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    other: { type: 'string', default: resolve(here, '../..') },
    mode: { type: 'string', default: 'pool' },
    rounds: { type: 'string', default: '4' },
    workers: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '1' },
    child: { type: 'string' }, // internal: one pool run of this root
  },
});

if (args.child) {
  // One pool run: 2 trainings of 41 steps, each line the step breakdown and a hash of the weights.
  const imp = (path) => import(join(args.child, 'dist', path));
  const [{ LogitTable }, { loadMnist }, { SharedDataset }, { buildModel }, { modelToData, shareModel }, { TfjsPool }, { mulberry32 }] =
    await Promise.all(
      [
        'data/logit-table.js',
        'data/mnist.js',
        'data/shared-dataset.js',
        'models/architectures.js',
        'models/model-data.js',
        'pool/tfjs-pool.js',
        'random.js',
      ].map(imp),
    );
  const [{ trainDataParallel }, { planPhase }] = await Promise.all(['train/data-parallel.js', 'train/plan.js'].map(imp));
  const { train } = await loadMnist();
  const data = SharedDataset.fromDataset(train, 'train');
  const soft = LogitTable.create(data.rows, data.numClasses);
  const random = mulberry32(3);
  for (let i = 0; i < soft.values.length; i++) soft.values[i] = random() * 8 - 4;
  const model = buildModel(settings.denseModel, { inputShape: data.featureShape, numClasses: data.numClasses, seed: 1 });
  const handle = shareModel(await modelToData(model));
  const workers = Number(args.workers);
  const rows = Int32Array.from({ length: data.rows }, (_, i) => i);
  const pool = await TfjsPool.startTfjs({ workers, backend: 'wasm', barrierTimeoutMs: 600_000, kernels: 'openblas', threadsPerWorker: 1 });
  for (let r = 0; r < 2; r++) {
    const outcome = await trainDataParallel(pool, {
      ...{ phase: 'student', model: handle, trainableParams: model.countParams(), data, rows, softLabels: soft },
      loss: { name: 'kd', temperature: settings.temperature, alpha: settings.alpha },
      optimizer: { name: 'adam', learningRate: settings.learningRate },
      plan: planPhase({ rows: rows.length, batchSize: settings.batchSize, workers, steps: 41 }),
      ...{ seed: 1, onNonFinite: 'abort', onProgress: () => {} },
    });
    const weights = new Float32Array(outcome.weights);
    let hash = 0;
    for (let i = 0; i < weights.length; i++) hash = (Math.imul(hash, 31) + Math.round(weights[i] * 1e7)) | 0;
    const s = outcome.stepMs;
    console.log(JSON.stringify({ ...s, step: s.gradient + s.averaging + s.update, hash }));
  }
  await pool.destroy();
  process.exit(0);
}

if (!args.base) throw new Error('--base ROOT is required: the package root of the build to compare against');
const roots = [resolve(args.base), resolve(args.other)];
const scratch = await mkdtemp(join(os.tmpdir(), 'tfjs-distill-build-ab-'));
const loads = [os.loadavg()];
let logitsFile;
if (args.mode === 'cli') {
  const { loadMnist } = await import('../dist/data/mnist.js');
  const { mulberry32 } = await import('../dist/random.js');
  const { train } = await loadMnist();
  const random = mulberry32(3);
  logitsFile = join(scratch, 'teacher-logits.npy');
  const logits = Float32Array.from({ length: train.shape[0] * train.numClasses }, () => random() * 8 - 4);
  await writeFile(logitsFile, npyFloat32(logits, [train.shape[0], train.numClasses]));
}

/** One run of `root`: pool mode's lines, or the CLI's samples/s. */
async function once(root, round) {
  if (args.mode === 'pool') {
    const { stdout } = await run(process.execPath, [here, '--child', root, '--workers', args.workers], { maxBuffer: 1 << 26 });
    return stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }
  const dir = join(scratch, `run-${round}`);
  const cli = [join(root, 'dist/cli/main.js'), 'run', '--data', 'mnist', '--teacher-logits', logitsFile, '--allow-weak-teacher'];
  cli.push(
    '--student-arch',
    settings.denseModel,
    '--batch-size',
    String(settings.batchSize),
    '--epochs',
    args.epochs,
    '--workers',
    args.workers,
  );
  cli.push(
    '--temperature',
    String(settings.temperature),
    '--alpha',
    String(settings.alpha),
    '--lr',
    String(settings.learningRate),
    '--out',
    dir,
  );
  await run(process.execPath, cli, { cwd: root, maxBuffer: 1 << 26 });
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
  await rm(dir, { recursive: true, force: true });
  return [{ samplesPerSec: report.throughput.trainSamplesPerSec }];
}

const results = roots.map(() => []);
for (let round = 0; round < Number(args.rounds); round++) {
  for (const i of round % 2 ? [1, 0] : [0, 1]) results[i].push(...(await once(roots[i], round)));
  loads.push(os.loadavg());
}
await rm(scratch, { recursive: true, force: true });
const spread = (values) => `${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)} to ${Math.max(...values).toFixed(2)})`;
const keys = args.mode === 'pool' ? ['step', 'gradient', 'averaging', 'waiting', 'update'] : ['samplesPerSec'];
console.log(`${settings.denseModel}, ${args.mode}, W = ${args.workers}: medians (ranges) over the runs`);
console.log(`| build | ${keys.join(' | ')} |${args.mode === 'pool' ? ' weights hash |' : ''}`);
console.log(`| --- |${keys.map(() => ' ---: |').join('')}${args.mode === 'pool' ? ' --- |' : ''}`);
roots.forEach((root, i) => {
  const hashes = args.mode === 'pool' ? ` ${[...new Set(results[i].map((r) => r.hash))].join(', ')} |` : '';
  console.log(`| ${root} | ${keys.map((k) => spread(results[i].map((r) => r[k]))).join(' | ')} |${hashes}`);
});
if (args.mode === 'cli') {
  const ratios = results[1].map((r, i) => r.samplesPerSec / results[0][i].samplesPerSec);
  console.log(`\nB / A per round: ${ratios.map((r) => r.toFixed(3)).join(' ')}; median ${median(ratios).toFixed(3)}`);
}
console.log(`\nload average at the start and after each round: ${loads.map((l) => l.map((x) => x.toFixed(2)).join(' ')).join(' | ')}`);
