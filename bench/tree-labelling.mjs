// Tree-ensemble labelling: rows/s of a scikit-learn random forest of 300 trees (test/fixtures/trees/
// forest_zipmap.onnx, skl2onnx's layout with ZipMap, from examples/trees/make_tree_teachers.py) labelling
// the Seattle weather rows through the pool at W workers (one onnxruntime-node session per worker on one
// thread, ZipMap taken out in memory, probabilities turned into logits), next to onnxruntime-node alone in
// the same process: one session with intraOpNumThreads W on the same forest without ZipMap (forest.onnx), in
// a plain loop over the rows at the pool's batch (256) and in one run of every row. Each pool run is timed
// as computeLogits runs it, on a pool started and warmed by a first pass over every row, as the session is.
// Rounds run every W and every reference in turn; each figure is its median round, with the range.
// Not part of `npm run bench`. Needs a build (dist/) and onnxruntime-node:
//   npm run build && node bench/tree-labelling.mjs [--rows 200000] [--rounds 3] [--workers 1,2] [--quick] [--out FILE]
// Prints a markdown table and writes it to --out (default bench/results/tree-labelling.md).
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { INFER_BATCH, computeLogits } from '../dist/infer/logits.js';
import { openOnnxMlTeacher } from '../dist/models/onnx-ml-teacher.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { medianAcrossRounds } from './metrics.mjs';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string' },
    rounds: { type: 'string' },
    workers: { type: 'string' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
  },
});
const quick = args.quick ?? false;
const rows = Number(args.rows ?? (quick ? 50_000 : 200_000));
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const cores = availableParallelism();
const workerCounts = args.workers ? args.workers.split(',').map(Number) : [...new Set([1, cores])];
for (const [name, value] of Object.entries({ rows, rounds, ...Object.fromEntries(workerCounts.map((w, i) => [`workers[${i}]`, w])) })) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`tree-labelling: ${name} must be a whole number of at least 1; got ${value}`);
    process.exit(1);
  }
}
const log = (line) => console.error(`[tree-labelling ${new Date().toISOString().slice(11, 19)}] ${line}`);
const fixture = (name) => fileURLToPath(new URL(`../test/fixtures/trees/${name}`, import.meta.url));
const ort = createRequire(import.meta.url)('onnxruntime-node');
const FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind'];
const TREES = 300;

/** The weather training rows' features, repeated to `rows` rows. */
async function weatherRows() {
  const [header, ...lines] = (await readFile(fixture('../tabular/weather-train.csv'), 'utf8')).trim().split('\n');
  const columns = header.split(',').map((name) => FEATURES.indexOf(name));
  const table = lines.map((line) => line.split(',').flatMap((cell, i) => (columns[i] >= 0 ? [Number(cell)] : [])));
  const x = new Float32Array(rows * FEATURES.length);
  for (let row = 0; row < rows; row++) x.set(table[row % table.length], row * FEATURES.length);
  return { x, y: new Int32Array(rows), shape: [rows, FEATURES.length], numClasses: 5 };
}

/** Rows/s of one pool labelling every row, after a first pass over every row (as the session gets one). */
async function poolRate(data, spec, workers) {
  const pool = await TfjsPool.startTfjs({ workers, backend: 'wasm', barrierTimeoutMs: 600_000 });
  try {
    const shared = SharedDataset.fromDataset(data, 'train');
    await computeLogits(pool, spec, shared, { phase: 'label', onProgress: () => {} }); // warm-up
    const started = performance.now();
    await computeLogits(pool, spec, shared, { phase: 'label', onProgress: () => {} });
    return { samplesPerSec: rows / ((performance.now() - started) / 1000) };
  } finally {
    await pool.destroy();
  }
}

/** Rows/s of one onnxruntime-node session with `threads` intra-op threads, in batches of `batch` rows. */
async function sessionRate(x, threads, batch) {
  const session = await ort.InferenceSession.create(fixture('forest.onnx'), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  try {
    const labelAll = async () => {
      for (let start = 0; start < rows; start += batch) {
        const end = Math.min(start + batch, rows);
        const input = new ort.Tensor('float32', x.subarray(start * 4, end * 4), [end - start, 4]);
        await session.run({ float_input: input }, ['probabilities']);
      }
    };
    await labelAll(); // warm-up
    const started = performance.now();
    await labelAll();
    return { samplesPerSec: rows / ((performance.now() - started) / 1000) };
  } finally {
    await session.release();
  }
}

const loadAverage = loadavg();
const data = await weatherRows();
const teacher = await openOnnxMlTeacher(fixture('forest_zipmap.onnx'), {
  featureShape: [4],
  numClasses: 5,
  sample: { x: data.x, rows: 64 },
});
const measured = [];
for (let round = 0; round < rounds; round++) {
  for (const workers of workerCounts) {
    const runs = {
      pool: await poolRate(data, teacher.spec, workers),
      batched: await sessionRate(data.x, workers, INFER_BATCH),
      whole: await sessionRate(data.x, workers, rows),
    };
    for (const [what, run] of Object.entries(runs)) measured.push({ workers, what, ...run });
    log(
      `round ${round + 1}, W=${workers}: ${Object.entries(runs)
        .map(([what, run]) => `${what} ${Math.round(run.samplesPerSec)} rows/s`)
        .join(', ')}`,
    );
  }
}
const merged = medianAcrossRounds(measured, (r) => `${r.workers} ${r.what}`);
const of = (workers, what) => merged.find((r) => r.workers === workers && r.what === what);
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const cell = (r) =>
  r.rounds > 1 ? `${fmt(r.samplesPerSec)} (${fmt(r.samplesPerSecRange[0])}–${fmt(r.samplesPerSecRange[1])})` : fmt(r.samplesPerSec);
const lines = [
  `${cores} CPUs (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}, onnxruntime-node ${ort.env?.versions?.node ?? '?'}; ` +
    `load average at start ${loadAverage.map((l) => l.toFixed(2)).join(' ')}.`,
  '',
  `Labelling ${fmt(rows)} Seattle weather rows (4 features, 5 classes; the 1,000 training rows repeated) with a scikit-learn ` +
    `RandomForestClassifier of ${TREES} trees of depth 5 (${fmt(teacher.params)} tree nodes, ${fmt(teacher.bytes)} bytes as ONNX-ML). ` +
    'The pool: W workers, one onnxruntime-node session each on one thread, ZipMap taken out in memory, logits out. ' +
    `onnxruntime-node alone: one session, intraOpNumThreads W, in batches of ${INFER_BATCH} rows (as the pool cuts them) and in one run of every row. ` +
    (rounds > 1
      ? `Median of ${rounds} rounds, each running every W and every reference in turn; the range is the lowest and highest round.`
      : 'One round.'),
  '',
  `| workers = threads (W) | pool rows/s | one session, batches of ${INFER_BATCH} | one session, one run | pool / the faster session |`,
  '| ---: | ---: | ---: | ---: | ---: |',
];
for (const workers of workerCounts) {
  const [pool, batched, whole] = ['pool', 'batched', 'whole'].map((what) => of(workers, what));
  const ratio = pool.samplesPerSec / Math.max(batched.samplesPerSec, whole.samplesPerSec);
  lines.push(`| ${workers} | ${cell(pool)} | ${cell(batched)} | ${cell(whole)} | ${ratio.toFixed(2)}x |`);
}
lines.push(
  '',
  `\`node bench/tree-labelling.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString()}`,
);
const markdown = `${lines.join('\n')}\n`;
const out = args.out ?? fileURLToPath(new URL('./results/tree-labelling.md', import.meta.url));
await writeFile(`${out}.tmp`, markdown);
await rename(`${out}.tmp`, out);
console.log(markdown);
console.log(`wrote ${out}`);
