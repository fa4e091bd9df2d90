// The ONNX labelling reference: what a user does with onnxruntime-node alone. One InferenceSession on the
// main thread, in a plain loop over the rows the bench's pool labels (the first labelRows MNIST training
// rows, scaled as the pool sees them, in ordinary memory), batches of 256 from row 0 as the pool cuts
// them, timed with tinybench as bench/measure.mjs times the pool. --threads 1 is the single-thread
// reference the pool's per-worker rate is held to (its sessions run intraOpNumThreads 1 as well);
// --threads N runs one session with intraOpNumThreads N, onnxruntime's own multi-threading. Called by
// bench/run.mjs:
//   node bench/onnx-reference.mjs --onnx FILE --threads N [--quick] --out FILE
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { takeRows } from '../dist/data/dataset.js';
import { loadMnist } from '../dist/data/mnist.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { median } from './metrics.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const { values: args } = parseArgs({
  options: { onnx: { type: 'string' }, threads: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } },
});
const settings = BENCH_SETTINGS[args.quick ? 'quick' : 'full'];
const threads = Number(args.threads ?? 1);
const ort = createRequire(import.meta.url)('onnxruntime-node');

const { train } = await loadMnist();
const data = SharedDataset.fromDataset(takeRows(train, settings.labelRows), 'train');
const rows = data.rows;
const x = new Float32Array(data.features); // a copy in ordinary memory, which onnxruntime reads directly
const rowShape = data.featureShape.length === 2 ? [1, ...data.featureShape] : data.featureShape; // [1, 28, 28]: NCHW, one channel
const rowSize = data.rowSize;
const session = await ort.InferenceSession.create(args.onnx, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const [inputName] = session.inputNames;
const [outputName] = session.outputNames;
const batch = settings.batchSize;

/** Every row once, a batch at a time; returns the last batch's logits so nothing is optimised away. */
async function labelAll() {
  let last;
  for (let start = 0; start < rows; start += batch) {
    const end = Math.min(start + batch, rows);
    const input = new ort.Tensor('float32', x.subarray(start * rowSize, end * rowSize), [end - start, ...rowShape]);
    last = (await session.run({ [inputName]: input }, [outputName]))[outputName].data;
  }
  return last;
}

const check = await labelAll();
if (!(check instanceof Float32Array) || check.length !== (rows - Math.floor((rows - 1) / batch) * batch) * data.numClasses) {
  throw new Error(`onnx-reference: unexpected output from ${args.onnx}`);
}
const runs = [];
let measuring = false;
const bench = new Bench({ time: settings.benchMs, iterations: settings.iterations, warmupIterations: 1, warmupTime: 0, throws: true });
bench.add(
  'onnxruntime plain loop',
  async () => {
    const started = performance.now();
    await labelAll();
    if (measuring) runs.push(rows / ((performance.now() - started) / 1000));
  },
  {
    beforeAll: (mode) => {
      measuring = mode === 'run';
    },
  },
);
await bench.run();
await session.release();
await writeFile(
  args.out,
  JSON.stringify({
    name: threads === 1 ? 'onnxruntime-node, plain loop, 1 thread' : `onnxruntime-node, plain loop, intraOpNumThreads ${threads}`,
    phase: 'label',
    model: settings.cnnModel,
    kernels: 'onnxruntime',
    threads,
    batchSize: batch,
    onnxruntime: ort.env?.versions?.node,
    samplesPerSec: median(runs),
    runs: runs.length,
  }),
);
