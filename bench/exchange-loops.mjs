// The training step's exchange loops over the bench's dense model (1,863,690 parameters, in shared memory):
// the weighted mean of 1 and of 2 ranks' gradients, and an Adam update, in JavaScript and in the native
// addon (native/exchange.c), side by side in one tinybench run, one thread.
// `npm run build && node bench/exchange-loops.mjs`; prints a table of mean ms per call and the ratio.
import { Bench } from 'tinybench';
import { loadBlas } from '../dist/models/blas-kernels.js';
import { javascriptLoops } from '../dist/parallel/exchange-loops.js';
import { mulberry32 } from '../dist/random.js';

const PARAMS = 1_863_690;
const load = loadBlas();
if (!('blas' in load)) {
  console.error(`bench/exchange-loops: ${load.error}; only the JavaScript loops could run, so there is nothing to compare`);
  process.exit(1);
}
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
