// The shipped student's prediction latency in Node, every runtime side by side: each model file of a student
// folder (the float32 model.json and its quantised variants on stock @tensorflow/tfjs's wasm backend;
// model.onnx and model-uint8.onnx on onnxruntime-node, with 1 intra-op thread and with one per core), at
// batch 1 and batch 256, for an image student and a text student. Each prediction is read back. Rows are
// real test rows prepared as the folder's preprocessing.json says, by the `tfjs-distill/student` entry
// (which also registers a text student's custom layer, the one thing stock tfjs lacks); every model is
// loaded from its own files, tfjs ones with `tf.loadLayersModel(tf.io.fromMemory(...))`.
// A round times every model once, in turn (so the machine's load falls on all of them alike): the median of
// its timed predictions after a warm-up of untimed ones. The table gives the median over rounds and their range.
// Not part of `npm run bench`: it measures a run's output. Needs a build and two student folders, e.g. the
// runs of docs/shipping.md ("Speed"):
//   node bench/student-latency.mjs --image runs/fashion/student --idx /usr/share/datasets/fashion-mnist \
//     --text runs/spam/student --jsonl test/fixtures/text/spam.jsonl [--rounds 7] [--out FILE]
// Prints a markdown table and writes it as the section SECTION_HEADING of --out (default
// bench/results/student-size.md, beside bench/student-size.mjs's table), replacing that section if there.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { loadStudent } from '../dist/student/index.js';
import { loadStockFolder } from './stock-folder.mjs';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const { values: args } = parseArgs({
  options: {
    image: { type: 'string' },
    idx: { type: 'string' },
    text: { type: 'string' },
    jsonl: { type: 'string' },
    rounds: { type: 'string' },
    out: { type: 'string' },
  },
});
if (!(args.image && args.idx) && !(args.text && args.jsonl)) {
  console.error(
    'bench: give --image DIR --idx DIR (an image student, IDX test rows) and/or --text DIR --jsonl FILE (a text student, its rows)',
  );
  process.exit(1);
}
const rounds = Number(args.rounds ?? 5);
const outFile = args.out ?? new URL('./results/student-size.md', import.meta.url).pathname;
const SECTION_HEADING = '## Latency in Node: tfjs (wasm) and onnxruntime-node';
const BATCHES = [
  { size: 1, repeats: 40 },
  { size: 256, repeats: 6 },
];
const THREADS = [...new Set([1, availableParallelism()])];

/** The raw test images of an IDX folder (gzipped or not), as one Uint8Array per row. */
async function idxImages(dir) {
  const stem = 't10k-images-idx3-ubyte';
  const file = [join(dir, `${stem}.gz`), join(dir, stem)].find((path) => existsSync(path));
  if (!file) throw new Error(`no ${stem}(.gz) in ${dir}`);
  let bytes = await readFile(file);
  if (file.endsWith('.gz')) bytes = gunzipSync(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [rows, height, width] = [0, 1, 2].map((i) => view.getUint32(4 + 4 * i));
  const data = bytes.subarray(16);
  return Array.from({ length: rows }, (_, i) => data.subarray(i * height * width, (i + 1) * height * width));
}

/** The rows of a student folder's test inputs, prepared by its preprocessing.json: [rows, ...inputShape]. */
async function preparedRows(folder, inputs) {
  const student = await loadStudent(folder);
  const width = student.rowWidth;
  const rows = new Float32Array(inputs.length * width);
  inputs.forEach((input, i) => student.prepare(input, rows.subarray(i * width, (i + 1) * width)));
  const shape = student.contract.inputShape;
  student.dispose();
  return { rows, width, shape, count: inputs.length };
}

/** A tfjs model folder loaded the stock way; predict returns when the batch's probabilities are read back. */
async function tfjsRunner(folder) {
  const { model, weightBytes } = await loadStockFolder(folder);
  return {
    bytes: (await stat(join(folder, 'model.json'))).size + weightBytes,
    // The input tensor is made inside the timing, as a caller holding plain arrays must.
    predict: async (values, shape) => tf.tidy(() => model.predict(tf.tensor(values, shape)).dataSync()),
  };
}

/** An ONNX file on onnxruntime-node with `threads` intra-op threads. */
async function onnxRunner(file, threads) {
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  return {
    bytes: (await stat(file)).size,
    predict: async (values, shape) => (await session.run({ [input]: new ort.Tensor('float32', values, shape) }))[output].data,
  };
}

/** The models of one student folder: each tfjs variant on wasm, each ONNX file at each thread count. */
async function runners(folder) {
  const list = [];
  for (const variant of ['float32', 'uint8', 'uint16', 'float16']) {
    const dir = variant === 'float32' ? folder : join(folder, variant);
    if (existsSync(join(dir, 'model.json'))) list.push({ runtime: 'tfjs wasm', model: variant, threads: 1, ...(await tfjsRunner(dir)) });
  }
  for (const [file, model] of [
    ['model.onnx', 'float32'],
    ['model-uint8.onnx', 'uint8'],
  ]) {
    if (!existsSync(join(folder, file))) continue;
    for (const threads of THREADS)
      list.push({ runtime: 'onnxruntime-node', model: `${file} (${model})`, threads, ...(await onnxRunner(join(folder, file), threads)) });
  }
  return list;
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** Untimed predictions before each timing: at least this many, for at least WARM_UP_MS. */
const WARM_UP_RUNS = 2;
// The model timed before may leave its threads busy for a while (onnxruntime's pool spins after a run), which
// would be charged to the next model: each starts after a short stretch of untimed predictions of its own.
const WARM_UP_MS = 50;

/** Median milliseconds of `repeats` predictions of `batch` consecutive rows, after the warm-up. */
async function timeBatch(runner, data, batch, repeats) {
  const rowsAt = (i) => {
    const start = (i * batch) % (data.count - batch + 1);
    return data.rows.slice(start * data.width, (start + batch) * data.width);
  };
  const shape = [batch, ...data.shape];
  const warmUpEnd = performance.now() + WARM_UP_MS;
  for (let i = 0; i < WARM_UP_RUNS || performance.now() < warmUpEnd; i++) await runner.predict(rowsAt(i), shape);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const values = rowsAt(i);
    const t0 = performance.now();
    await runner.predict(values, shape);
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** Every runner of every student, timed round by round; per runner and batch, the rounds' medians. */
async function measure(students) {
  const results = students.flatMap((s) =>
    s.runners.map((runner) => ({ student: s.name, runner, data: s.data, times: BATCHES.map(() => []) })),
  );
  for (let round = 0; round < rounds; round++) {
    for (const result of results) {
      for (const [b, { size, repeats }] of BATCHES.entries())
        result.times[b].push(await timeBatch(result.runner, result.data, size, repeats));
    }
    process.stderr.write(`round ${round + 1}/${rounds}, load average ${loadavg()[0].toFixed(2)}\n`);
  }
  return results;
}

await tf.setBackend('wasm');
await tf.ready();
const loadAtStart = loadavg();
const students = [];
if (args.image) {
  const data = await preparedRows(args.image, await idxImages(args.idx));
  students.push({ name: `image (${args.image})`, data, runners: await runners(args.image) });
}
if (args.text) {
  const lines = (await readFile(args.jsonl, 'utf8')).split('\n').filter((line) => line.trim());
  const data = await preparedRows(
    args.text,
    lines.map((line) => JSON.parse(line).text),
  );
  students.push({ name: `text (${args.text})`, data, runners: await runners(args.text) });
}
const results = await measure(students);
const loadAtEnd = loadavg();

const msText = (times) => {
  const digits = median(times) < 1 ? 3 : 2;
  return `${median(times).toFixed(digits)} (${Math.min(...times).toFixed(digits)}-${Math.max(...times).toFixed(digits)})`;
};
const loadText = (load) => load.map((l) => l.toFixed(2)).join(' ');
const command = [
  'node bench/student-latency.mjs',
  ...(args.image ? [`--image ${args.image} --idx ${args.idx}`] : []),
  ...(args.text ? [`--text ${args.text} --jsonl ${args.jsonl}`] : []),
  `--rounds ${rounds}`,
].join(' ');
const lines = [
  `${cpus().length} CPUs (${cpus()[0].model.trim()}), node ${process.version}, @tensorflow/tfjs ${tf.version.tfjs} on the stock wasm backend ` +
    `(one thread), onnxruntime-node ${require('onnxruntime-node/package.json').version} (CPU execution provider, sequential, ` +
    `inter-op threads 1, intra-op threads as given). Load average (1, 5, 15 min) at start ${loadText(loadAtStart)}, at end ${loadText(loadAtEnd)}.`,
  '',
  `Milliseconds per prediction of a batch, input made from plain arrays and output read back: the median over ${rounds} rounds ` +
    `(each round the median of ${BATCHES.map((b) => `${b.repeats} batch-${b.size}`).join(' and ')} predictions, after ${WARM_UP_MS} ms of untimed ones), then the range of the rounds.`,
  '',
  '| student | runtime | model | bytes | intra-op threads | batch 1 (ms) | batch 256 (ms) | batch 256 rows/s |',
  '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ...results.map(
    ({ student, runner, times }) =>
      `| ${student} | ${runner.runtime} | ${runner.model} | ${runner.bytes.toLocaleString('en-US')} | ${runner.threads} | ${msText(times[0])} | ` +
      `${msText(times[1])} | ${Math.round((256 * 1000) / median(times[1])).toLocaleString('en-US')} |`,
  ),
  '',
  `\`${command}\`, ${new Date().toISOString()}`,
];
console.log(lines.join('\n'));
// The file's other sections stay as they are; this one is replaced, or added at the end.
const before = existsSync(outFile) ? await readFile(outFile, 'utf8') : '';
const start = before.indexOf(SECTION_HEADING);
const next = start < 0 ? -1 : before.indexOf('\n## ', start + SECTION_HEADING.length);
const kept = start < 0 ? before : before.slice(0, start) + (next < 0 ? '' : before.slice(next + 1));
await writeFile(outFile, `${kept.trimEnd()}${kept.trim() ? '\n\n' : ''}${SECTION_HEADING}\n\n${lines.join('\n')}\n`);
