// Where a sweep's wall time goes: one sweep of bench/sweep.mjs's workload (4 trials of mlp:32 on the bundled
// digits, 500 labelled, 3 epochs, an mlp:128 teacher) with TFJS_DISTILL_TRACE on, printed as a timeline from
// the sweep's start: the labelling pool's start, the measurements ahead of the trials, and each trial's pool
// (pool N), phases, folder write and onTrial; then the cores busy in each 100 ms (the process's CPU time, all
// threads, read from /proc) and the sweep's CPU time. --warm runs one untraced sweep of the arm first, as the
// earlier arms of a bench/sweep.mjs round warm its process. Not part of `npm run bench`. Needs a build (dist/):
//   npm run build && node bench/sweep-trace.mjs [one-after-another|concurrent|auto] [--workers W] [--warm]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';

process.env.TFJS_DISTILL_TRACE = '1';
const { sweep } = await import('../dist/index.js');
const { loadMnist } = await import('../dist/data/mnist.js');
const { buildModel } = await import('../dist/models/architectures.js');
const { saveModel } = await import('../dist/models/model-files.js');

const { values: args, positionals } = parseArgs({
  options: { workers: { type: 'string' }, warm: { type: 'boolean' } },
  allowPositionals: true,
});
const arm = positionals[0] ?? 'concurrent';
const workers = Number(args.workers ?? availableParallelism());
const arms = {
  'one after another': [1, 'data-parallel'],
  'one-after-another': [1, 'data-parallel'],
  concurrent: [workers, 'concurrent'],
  auto: [workers, 'auto'],
};
if (!arms[arm]) {
  console.error(`bench/sweep-trace: the arm is one of ${Object.keys(arms).slice(1).join(', ')}; got ${arm}`);
  process.exit(1);
}
await tf.setBackend('cpu');
const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-sweep-trace-'));
const { train, test } = await loadMnist();
const teacherModel = buildModel('mlp:128', { inputShape: [28, 28], numClasses: 10, seed: 1 });
teacherModel.compile({ optimizer: tf.train.adam(0.003), loss: (y, logits) => tf.losses.softmaxCrossEntropy(y, logits) });
const xs = tf.tensor(Float32Array.from(train.x), train.shape);
const ys = tf.oneHot(tf.tensor1d(train.y, 'int32'), 10);
await teacherModel.fit(xs, ys, { epochs: 2, batchSize: 128, verbose: 0 });
const teacher = join(scratch, 'teacher');
await saveModel(teacherModel, teacher);

const [sweepWorkers, schedule] = arms[arm];
const runSweep = (out) =>
  sweep({
    teacher,
    student: 'mlp:32',
    train,
    test,
    labeled: 500,
    epochs: 3,
    grid: { temperature: Array.from({ length: workers }, (_, i) => i + 1), alpha: [0.5, 0.9] },
    workers: sweepWorkers,
    schedule,
    out: join(scratch, out),
  });
// The trace lines go to stderr; they are collected here and printed from the sweep's start. With --warm, one
// sweep of the same arm runs first, untraced, as the earlier arms of a bench/sweep.mjs round warm its process.
const lines = [];
const write = process.stderr.write.bind(process.stderr);
let keep = !args.warm;
process.stderr.write = (chunk, ...rest) => {
  const text = String(chunk);
  if (!text.startsWith('TRACE ')) return write(chunk, ...rest);
  if (keep) lines.push(text.trim().split(' ').slice(1));
  return true;
};
if (args.warm) await runSweep('warm');
keep = true;
// The process's CPU time (every thread), read from /proc by a helper process every 20 ms: the cores busy over time.
const sampler = spawn(
  'sh',
  [
    '-c',
    `while [ -e /proc/${process.pid}/stat ]; do echo "$(date +%s.%N) $(cut -d' ' -f14,15 /proc/${process.pid}/stat)"; sleep 0.02; done`,
  ],
  { stdio: ['ignore', 'pipe', 'ignore'] },
);
let samples = '';
sampler.stdout.on('data', (chunk) => (samples += chunk));
const cpuBefore = process.cpuUsage();
const started = performance.now();
const { report } = await runSweep('sweep');
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
sampler.kill();
process.stderr.write = write;
await rm(scratch, { recursive: true, force: true });
const origin = Number(lines[0][0]);
for (const [at, ...event] of lines) console.log(`${(Number(at) - origin).toFixed(3).padStart(7)}  ${event.join(' ')}`);
// Cores busy in each 100 ms from the sweep's start (clock ticks of 10 ms each).
const ticks = samples
  .trim()
  .split('\n')
  .map((line) => line.split(' ').map(Number))
  .filter(([at]) => at >= origin);
const busy = [];
for (let i = 1; i < ticks.length; i++) {
  const [, user, system] = ticks[i];
  const [before, userBefore, systemBefore] = ticks[i - 1];
  const bucket = Math.floor((before - origin) * 10);
  busy[bucket] = (busy[bucket] ?? 0) + (user + system - userBefore - systemBefore) / 100; // CPU seconds
}
console.log(`cores busy per 100 ms: ${busy.map((b) => ((b ?? 0) * 10).toFixed(1)).join(' ')}`);
console.log(
  `${arm}: wall ${seconds.toFixed(2)} s, labelling ${report.labelling.seconds.toFixed(2)} s, trial time ${(seconds - report.labelling.seconds).toFixed(2)} s; ` +
    `CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s; ${report.schedule.mode} (${report.schedule.reason}); load average ${loadavg()[0].toFixed(2)}`,
);
