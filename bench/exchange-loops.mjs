// The training step's exchange loops over the bench's dense model (1,863,690 parameters, in shared memory):
// the weighted mean of 1 and of 2 ranks' gradients, and an Adam update, in JavaScript and in the native
// addon (native/exchange.c), side by side in one tinybench run, one thread. Then the native Adam as the
// sharded optimizer runs it, the whole vector in one thread against each half in its own thread at once,
// twice: on the same vectors every time (they stay in the CPU's caches) and cycling through 4 sets of
// vectors, 119 MB in all (each update finds its data out of cache, as in a training step, where the
// gradient pass in between has evicted it). If two threads on halves take as long as one thread on the
// whole only in the second case, memory bandwidth, not the cores, bounds the loop.
// `npm run build && node bench/exchange-loops.mjs`; prints two tables.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { loadBlas } from '../dist/kernels/blas-kernels.js';
import { javascriptLoops } from '../dist/kernels/exchange-loops.js';
import { mulberry32 } from '../dist/random.js';

const PARAMS = 1_863_690;
const load = loadBlas();
if (!('blas' in load)) {
  console.error(`bench/exchange-loops: ${load.error}; only the JavaScript loops could run, so there is nothing to compare`);
  process.exit(1);
}

/** Times `rounds` native Adam updates of [lo, hi), update t on vector set t mod sets.length; returns ms per update. */
function timeAdam({ sets, lo, hi, rounds, start }) {
  const views = sets.map((buffers) => buffers.map((b) => new Float32Array(b)));
  if (start) Atomics.wait(new Int32Array(start), 0, 0); // both threads begin together
  const begin = performance.now();
  for (let t = 1; t <= rounds; t++) {
    const [g, w, m, v] = views[t % views.length];
    load.blas.adam(w, m, v, g, lo, hi, 1e-3 / (1 - 0.9 ** t), 1 / Math.sqrt(1 - 0.999 ** t), 0.9, 0.999, 1e-7);
  }
  return (performance.now() - begin) / rounds;
}

if (!isMainThread) {
  parentPort.postMessage(timeAdam(workerData));
} else {
  const shared = (length) => new Float32Array(new SharedArrayBuffer(length * 4));
  const random = mulberry32(1);
  const slots = shared(2 * PARAMS).map(() => random() - 0.5);
  const [mean, w, m, v] = [shared(PARAMS), shared(PARAMS), shared(PARAMS), shared(PARAMS)];
  let iteration = 0;
  const cases = {
    'weighted mean, 1 rank': (loops) => loops.weightedSum(slots, PARAMS, Float64Array.of(1), 0, PARAMS, mean),
    'weighted mean, 2 ranks': (loops) => loops.weightedSum(slots, PARAMS, Float64Array.of(0.5, 0.5), 0, PARAMS, mean),
    'Adam update': (loops) => {
      iteration++;
      loops.adam(w, m, v, mean, 0, PARAMS, 1e-3 / (1 - 0.9 ** iteration), 1 / Math.sqrt(1 - 0.999 ** iteration), 0.9, 0.999, 1e-7);
    },
  };
  const implementations = { javascript: javascriptLoops, native: load.blas };
  const bench = new Bench({ time: 1000, warmupIterations: 3 });
  for (const [name, run] of Object.entries(cases)) {
    for (const [implementation, loops] of Object.entries(implementations)) bench.add(`${name}|${implementation}`, () => run(loops));
  }
  await bench.run();
  const ms = (name) => bench.getTask(name).result.latency.mean;
  console.log(`| loop over ${PARAMS.toLocaleString('en-US')} floats | JavaScript ms | native ms | JavaScript / native |`);
  console.log('| --- | ---: | ---: | ---: |');
  for (const name of Object.keys(cases)) {
    const [js, native] = [ms(`${name}|javascript`), ms(`${name}|native`)];
    console.log(`| ${name} | ${js.toFixed(2)} | ${native.toFixed(2)} | ${(js / native).toFixed(1)}x |`);
  }

  // The sharded optimizer's pattern, alternated a few times against the noise of shared cores.
  const vectorSet = () => [0, 1, 2, 3].map(() => new Float32Array(new SharedArrayBuffer(PARAMS * 4)).fill(0.01).buffer); // pages touched
  const hot = [[mean, w, m, v].map((a) => a.buffer)];
  const cold = [vectorSet(), vectorSet(), vectorSet(), vectorSet()];
  const rounds = 40;
  const half = Math.ceil(PARAMS / 2);
  const twoThreads = async (sets) => {
    const start = new SharedArrayBuffer(4);
    const threads = [
      [0, half],
      [half, PARAMS],
    ].map(
      ([lo, hi]) =>
        new Promise((resolve, reject) => {
          const worker = new Worker(new URL(import.meta.url), { workerData: { sets, lo, hi, rounds, start } });
          worker.once('message', (msPerUpdate) => worker.terminate().then(() => resolve(msPerUpdate)));
          worker.once('error', reject);
        }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // both threads loaded and waiting
    Atomics.store(new Int32Array(start), 0, 1);
    Atomics.notify(new Int32Array(start), 0);
    return Math.max(...(await Promise.all(threads)));
  };
  console.log('\n| native Adam over 1,863,690 floats, ms per update | data in cache | data out of cache |');
  console.log('| --- | ---: | ---: |');
  for (let trial = 1; trial <= 3; trial++) {
    const one = [hot, cold].map((sets) => timeAdam({ sets, lo: 0, hi: PARAMS, rounds }).toFixed(2));
    console.log(`| 1 thread, the whole vector (trial ${trial}) | ${one.join(' | ')} |`);
    const two = [];
    for (const sets of [hot, cold]) two.push((await twoThreads(sets)).toFixed(2));
    console.log(`| 2 threads, a half each, at once (trial ${trial}) | ${two.join(' | ')} |`);
  }
}
