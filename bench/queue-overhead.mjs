// `node bench/queue-overhead.mjs [--data SRC] [--teacher-arch SPEC] [--job-rows 1024,4096,16384] [--rounds N]`:
// what the labelling queue costs. The same teacher labels the same rows
// (a) on a warm pool of 2 worker threads in this process (the teacher loaded, one labelling pass done
//     before the rounds), which is what `run` and `label` do after their start-up;
// (b) through BullMQ on a local redis-server, by 2 `tfjs-distill worker --workers 1` processes, at each
//     job size. The workers are started and warmed up (data and teacher loaded, jobs done) once, as on
//     machines that stay up between runs; each coordinator run then queues fresh jobs;
// (c) as a user runs it, `tfjs-distill label --workers 2`, a fresh process each time (start-up, loading,
//     and a pool that is not warm yet, all included).
// Both sides being warm, (a) against (b) is the queue's own cost. Every round runs (a), (c) and every job
// size once, so contention from other tenants hits them in turn; medians and ranges over the rounds are
// printed, and the overhead also paired by round. The compared figure is the labelling time: the pool's
// inference, and for the queue, from queueing to the last result (what its store records). Every queue
// store is checked to hold the same rows, bit for bit, as the pool's.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { computeLogits } from '../dist/infer/logits.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { buildModel, loadDataSource, saveModel } from '../dist/index.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: 'idx:/usr/share/datasets/fashion-mnist' },
    'teacher-arch': { type: 'string', default: 'mlp:1024,1024' },
    'job-rows': { type: 'string', default: '1024,4096,16384' },
    rounds: { type: 'string', default: '3' },
  },
});
const rounds = Number(args.rounds);
const jobSizes = args['job-rows'].split(',').map(Number);
const dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-queue-bench-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The store's header and the bytes after it (rows and checksum). */
async function store(file) {
  const bytes = await readFile(file);
  const length = bytes.readUInt32LE(8);
  return { header: JSON.parse(bytes.toString('utf8', 12, 12 + length)), rest: bytes.subarray(12 + length) };
}

function cli(args) {
  const started = performance.now();
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tfjs-distill ${args.join(' ')} failed: ${result.stderr}`);
  return (performance.now() - started) / 1000;
}

await tf.setBackend('cpu');
const { train } = await loadDataSource({ source: args.data, testFraction: 0.2, seed: 1 });
const teacher = join(dir, 'teacher');
const shape = { inputShape: train.shape.slice(1), numClasses: train.numClasses };
const model = buildModel(args['teacher-arch'], { ...shape, seed: 11 });
await saveModel(model, teacher);
const inputs = ['--data', args.data, '--teacher', teacher];
const shared = SharedDataset.fromDataset(train, 'train');
const handle = shareModel(await modelToData(model));
const pool = await TfjsPool.startTfjs({ workers: 2, backend: 'auto', barrierTimeoutMs: 600_000 });
const poolPass = () => computeLogits(pool, handle, shared, { phase: 'label', onProgress: () => {} });
await poolPass();

const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
await new Promise((resolve) => redis.stdout.on('data', (chunk) => String(chunk).includes('Ready to accept') && resolve()));
const queue = `redis://127.0.0.1:${port}/bench`;
const workers = [0, 1].map(() => spawn(process.execPath, [CLI, 'worker', '--queue', queue, '--workers', '1'], { stdio: 'ignore' }));

const results = { pool: [], single: [], ...Object.fromEntries(jobSizes.map((size) => [size, []])) };
try {
  // Warm-up: both workers load the data and the teacher (and each labels at least one job).
  cli(['label', ...inputs, '--soft-labels', join(dir, 'warm.sl'), '--queue', queue, '--job-rows', '256']);
  for (let round = 0; round < rounds; round++) {
    const warm = await poolPass();
    results.pool.push({ label: warm.seconds, wall: warm.seconds });
    const rowsBytes = Buffer.from(warm.table.values.buffer);
    const reference = join(dir, `single-${round}.sl`);
    const wall = cli(['label', ...inputs, '--soft-labels', reference, '--workers', '2']);
    const single = await store(reference);
    results.single.push({ label: single.header.labelSeconds, wall });
    if (!single.rest.subarray(0, rowsBytes.byteLength).equals(rowsBytes)) throw new Error("the CLI's store differs from the pool's rows");
    for (const size of jobSizes) {
      const file = join(dir, `queue-${size}-${round}.sl`);
      const wall = cli(['label', ...inputs, '--soft-labels', file, '--queue', queue, '--job-rows', String(size)]);
      const queued = await store(file);
      if (!queued.rest.equals(single.rest)) throw new Error(`the queue's store for --job-rows ${size} differs from the pool's`);
      results[size].push({ label: queued.header.labelSeconds, wall });
    }
    console.error(`round ${round + 1}/${rounds} done (load average ${loadavg()[0].toFixed(2)})`);
  }
} finally {
  await pool.destroy();
  for (const worker of workers) worker.kill('SIGTERM');
  redis.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
}

const rows = train.y.length;
const describe = (runs, key) => {
  const values = runs.map((r) => r[key]);
  return `${median(values).toFixed(2)} s (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})`;
};
const base = median(results.pool.map((r) => r.label));
console.log(`${args['teacher-arch']} labelling ${rows} rows of ${args.data}, ${rounds} rounds, medians (ranges)`);
console.log('| path | labelling | rows/s | overhead | overhead, paired by round | command wall time |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
const percent = (ratio) => `${((ratio - 1) * 100).toFixed(1)}%`;
const line = (name, runs, wall) => {
  const label = median(runs.map((r) => r.label));
  // Each round's time over the same round's warm-pool time: contention that drifts between rounds cancels.
  const ratios = runs.map((r, round) => r.label / results.pool[round].label);
  const paired = `${percent(median(ratios))} (${percent(Math.min(...ratios))} to ${percent(Math.max(...ratios))})`;
  const cells = [describe(runs, 'label'), Math.round(rows / label), percent(label / base), paired, wall ? describe(runs, 'wall') : '-'];
  console.log(`| ${name} | ${cells.join(' | ')} |`);
};
line('warm pool, 1 process, 2 threads', results.pool, false);
line('`label --workers 2`, a fresh process', results.single, true);
for (const size of jobSizes) line(`queue, 2 workers x 1 thread, ${size}-row jobs`, results[size], true);
console.error(JSON.stringify(results));
