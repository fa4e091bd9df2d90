// The shipped student's size and speed, measured with stock @tensorflow/tfjs alone: no tfjs-distill code is
// imported, so the figures are what a user of the student folder gets. For the float32 student and each
// quantised variant in a student folder (student/uint8/ and so on): its weight bytes against float32's, its
// test accuracy on IDX test rows prepared as the folder's preprocessing.json says (so the contract is
// checked too) and the change against float32, its top-1 agreement with float32, and its batch-1 and
// batch-256 prediction latency in Node on the stock wasm backend (one thread, each prediction read back).
// Not part of `npm run bench`: it measures a run's output. For example, after the Fashion-MNIST run of
// docs/shipping.md:
//   node bench/student-size.mjs --student runs/fashion/student --idx /usr/share/datasets/fashion-mnist [--out FILE]
// Prints a markdown table and writes it to --out (default bench/results/student-size.md), keeping the
// file's later sections (bench/student-latency.mjs writes one: latency on every runtime).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { loadStockFolder } from './stock-folder.mjs';

const { values: args } = parseArgs({
  options: { student: { type: 'string' }, idx: { type: 'string' }, out: { type: 'string' }, rounds: { type: 'string' } },
});
if (!args.student || !args.idx) {
  console.error('bench: give --student DIR (a student folder) and --idx DIR (the test rows, MNIST layout)');
  process.exit(1);
}
const rounds = Number(args.rounds ?? 5);
const outFile = args.out ?? new URL('./results/student-size.md', import.meta.url).pathname;

/** An IDX file (gzipped or not) as its dimensions and bytes. */
async function readIdx(dir, stem) {
  const file = [join(dir, `${stem}.gz`), join(dir, stem)].find((path) => existsSync(path));
  if (!file) throw new Error(`no ${stem}(.gz) in ${dir}`);
  let bytes = await readFile(file);
  if (file.endsWith('.gz')) bytes = gunzipSync(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rank = bytes[3];
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  return { dims, data: bytes.subarray(4 + 4 * rank) };
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * Median milliseconds of predicting `batch` rows and reading them back, after two untimed runs. Each input is
 * a tensor of its own made from the rows' values (on wasm, a slice of the whole test tensor copies far more
 * than its rows on first use, which would be timed).
 */
function latency(model, pixels, rowShape, batch, repeats) {
  const size = rowShape.reduce((a, b) => a * b, 1);
  const rows = pixels.length / size;
  const times = [];
  for (let i = -2; i < repeats; i++) {
    const start = (Math.max(i, 0) * batch) % (rows - batch + 1);
    const input = tf.tensor(pixels.subarray(start * size, (start + batch) * size), [batch, ...rowShape]);
    const t0 = performance.now();
    tf.tidy(() => model.predict(input).dataSync());
    if (i >= 0) times.push(performance.now() - t0);
    input.dispose();
  }
  return median(times);
}

await tf.setBackend('wasm');
await tf.ready();
const contract = JSON.parse(await readFile(join(args.student, 'preprocessing.json'), 'utf8'));
if (contract.kind !== 'image') throw new Error(`this bench reads image students; ${args.student} takes ${contract.kind} rows`);
const images = await readIdx(args.idx, 't10k-images-idx3-ubyte');
const labels = (await readIdx(args.idx, 't10k-labels-idx1-ubyte')).data;
const rows = images.dims[0];
// preprocessing.json applied to the raw uint8 pixels: times scale, minus mean, over std.
const pixels = Float32Array.from(images.data, (v) => v * contract.scale);
if (contract.mean) throw new Error('per-channel normalisation is not handled here');
const x = tf.tensor(pixels, [rows, ...contract.inputShape]);

const variants = ['.', 'uint8', 'uint16', 'float16'].filter((name) => existsSync(join(args.student, name, 'model.json')));
const results = [];
let reference;
for (const name of variants) {
  const { model, weightBytes } = await loadStockFolder(join(args.student, name));
  const predicted = tf.tidy(() => model.predict(x).argMax(-1).dataSync());
  let hits = 0;
  let same = 0;
  for (let i = 0; i < rows; i++) {
    if (predicted[i] === labels[i]) hits++;
    if (reference && predicted[i] === reference.predicted[i]) same++;
  }
  const row = {
    variant: name === '.' ? 'float32' : name,
    weightBytes,
    accuracy: hits / rows,
    agreement: reference ? same / rows : 1,
    batch1Ms: latency(model, pixels, contract.inputShape, 1, rounds * 20),
    batch256Ms: latency(model, pixels, contract.inputShape, 256, rounds * 4),
  };
  reference ??= { ...row, predicted };
  results.push(row);
  model.dispose();
}

const float32 = results[0];
const pct = (v) => `${(100 * v).toFixed(2)}%`;
const lines = [
  `${cpus().length} CPUs (${cpus()[0].model.trim()}), node ${process.version}, @tensorflow/tfjs ${tf.version.tfjs} on the stock wasm backend; load average at start ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}.`,
  '',
  `${args.student}, on the ${rows.toLocaleString('en-US')} test rows of ${args.idx} prepared as its preprocessing.json says. Each model loaded from its files with ` +
    '`tf.loadLayersModel(tf.io.fromMemory(...))` and no tfjs-distill code. Latency: median of the timed predictions, each read back.',
  '',
  '| variant | weight bytes | of float32 | test accuracy | change (points) | agreement with float32 | batch 1 (ms) | batch 256 (ms) | batch 256 rows/s |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map(
    (r) =>
      `| ${r.variant} | ${r.weightBytes.toLocaleString('en-US')} | ${pct(r.weightBytes / float32.weightBytes)} | ${pct(r.accuracy)} | ` +
      `${((r.accuracy - float32.accuracy) * 100).toFixed(2)} | ${pct(r.agreement)} | ${r.batch1Ms.toFixed(3)} | ${r.batch256Ms.toFixed(2)} | ` +
      `${Math.round((256 * 1000) / r.batch256Ms).toLocaleString('en-US')} |`,
  ),
  '',
  `\`node bench/student-size.mjs --student ${args.student} --idx ${args.idx}\`, ${new Date().toISOString()}`,
];
console.log(lines.join('\n'));
// Sections other scripts add to the file (bench/student-latency.mjs's) are kept.
const previous = existsSync(outFile) ? await readFile(outFile, 'utf8') : '';
const sections = previous.indexOf('\n## ') < 0 ? '' : `\n${previous.slice(previous.indexOf('\n## ') + 1)}`;
await writeFile(outFile, `${lines.join('\n')}\n${sections}`);
console.log(JSON.stringify(results));
