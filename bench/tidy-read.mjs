// What reading a result out of tf.tidy() costs, two ways: returning dataSync()'s typed array from the tidy()
// (tfjs then looks for tensors in it, value by value through a Set) against returning the tensor and reading
// it after (readAndDispose, as src/ does). Median of --rounds rounds, each the mean over many calls, after a
// warm-up. Not part of `npm run bench`. Needs a build (dist/):
//   npm run build && node bench/tidy-read.mjs [--backend cpu|wasm] [--rounds 5] [--out FILE]
// Prints a markdown table and writes it to --out (default bench/results/tidy-read-BACKEND.md).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readAndDispose } from '../dist/tensor-values.js';
import { median } from './metrics.mjs';

const { values: args } = parseArgs({ options: { backend: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' } } });
await tf.setBackend(args.backend ?? 'cpu');
const rounds = Number(args.rounds ?? 5);
const perCall = (work, calls) => {
  for (let i = 0; i < 20; i++) work();
  const times = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) work();
    times.push((performance.now() - start) / calls);
  }
  return median(times);
};
const lines = [
  `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}, load average ${loadavg()[0].toFixed(2)}; ` +
    `backend ${tf.getBackend()}; ms per call of x.add(1) read back, the median of ${rounds} rounds.`,
  '',
  '| values | tidy() returns dataSync() | readAndDispose(tidy()) | ratio |',
  '| ---: | ---: | ---: | ---: |',
];
for (const size of [10, 2560, 80000]) {
  const x = tf.randomNormal([size]);
  const calls = size > 10000 ? 50 : 2000;
  const walked = perCall(() => tf.tidy(() => x.add(1).dataSync()), calls);
  const read = perCall(() => readAndDispose(tf.tidy(() => x.add(1))), calls);
  lines.push(`| ${size.toLocaleString('en-US')} | ${walked.toFixed(4)} | ${read.toFixed(4)} | ${(walked / read).toFixed(1)}x |`);
  x.dispose();
}
lines.push(
  '',
  `\`node bench/tidy-read.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString()}`,
);
const markdown = `${lines.join('\n')}\n`;
const out = args.out ?? fileURLToPath(new URL(`./results/tidy-read-${tf.getBackend()}.md`, import.meta.url));
await writeFile(out, markdown);
console.log(markdown);
console.log(`wrote ${out}`);
