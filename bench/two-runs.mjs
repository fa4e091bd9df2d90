// What this machine gives two small trainings side by side, with nothing shared between them: the ceiling
// for a concurrent sweep's trials (issue 23's "0.8 x W times faster"), which share more (one process, one main
// thread). One CLI run of a small student on one worker (`--student-arch mlp:32 --workers 1` on the bundled
// digits, seeded teacher logits) alone, then two identical ones started together, in turn each round.
// Reported: the training phase's samples/s (report.json) of the two together over one alone's, and the whole
// runs' wall time (two alone, one after another, over the two together).
// Not part of `npm run bench`. Needs a build (dist/):
//   node bench/two-runs.mjs [--rounds 5] [--epochs 3] [--out bench/results/two-runs.md]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { median } from './metrics.mjs';
import { writeDigitLogits } from './teacher-logits.mjs';

const run = promisify(execFile);
const { values: args } = parseArgs({ options: { rounds: { type: 'string' }, epochs: { type: 'string' }, out: { type: 'string' } } });
const rounds = Number(args.rounds ?? 5);
const epochs = Number(args.epochs ?? 3);
const out = args.out ?? 'bench/results/two-runs.md';
const STUDENT = 'mlp:32';
const log = (line) => console.error(`[two-runs ${new Date().toISOString().slice(11, 19)}] ${line}`);
const loadAtStart = os.loadavg();

const scratch = await mkdtemp(join(os.tmpdir(), 'tfjs-distill-two-runs-'));
const logitsFile = await writeDigitLogits(scratch);

/** One CLI run on one worker: its wall seconds and its training phase's samples/s. */
async function cliRun(name) {
  const dir = join(scratch, name);
  const cliArgs = [
    'dist/cli/main.js',
    'run',
    ...['--data', 'mnist', '--teacher-logits', logitsFile, '--allow-weak-teacher', '--student-arch', STUDENT],
    ...['--epochs', String(epochs), '--workers', '1', '--out', dir],
  ];
  const start = performance.now();
  await run(process.execPath, cliArgs, { maxBuffer: 64 * 2 ** 20 });
  const seconds = (performance.now() - start) / 1000;
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
  await rm(dir, { recursive: true, force: true });
  return { seconds, samplesPerSec: report.throughput.trainSamplesPerSec };
}

const measured = [];
for (let round = 0; round < rounds; round++) {
  const alone = await cliRun(`alone-${round}`);
  const start = performance.now();
  const pair = await Promise.all([cliRun(`a-${round}`), cliRun(`b-${round}`)]);
  const together = (performance.now() - start) / 1000;
  measured.push({
    training: (pair[0].samplesPerSec + pair[1].samplesPerSec) / alone.samplesPerSec,
    wall: (2 * alone.seconds) / together,
  });
  log(
    `round ${round + 1}: training ${measured.at(-1).training.toFixed(2)}x, wall ${measured.at(-1).wall.toFixed(2)}x; load ${os.loadavg()[0].toFixed(2)}`,
  );
}
await rm(scratch, { recursive: true, force: true });

const spread = (values) => `${median(values).toFixed(2)}x (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`;
const loads = (l) => l.map((v) => v.toFixed(2)).join(' ');
const text = [
  `${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}; load average ${loads(loadAtStart)} at the start, ${loads(os.loadavg())} at the end.`,
  '',
  `Two independent \`tfjs-distill run --student-arch ${STUDENT} --workers 1 --epochs ${epochs}\` processes (bundled digits, seeded teacher logits) started together, against one alone, in turn over ${rounds} rounds; medians, with the range over rounds.`,
  '',
  '| what | two together over one alone |',
  '| --- | ---: |',
  `| training phase samples/s (report.json), summed over the two | ${spread(measured.map((m) => m.training))} |`,
  `| whole runs: twice one alone's wall time over the two together's | ${spread(measured.map((m) => m.wall))} |`,
  '',
  `\`node bench/two-runs.mjs --rounds ${rounds} --epochs ${epochs}\`, ${new Date().toISOString()}`,
  '',
].join('\n');
await writeFile(out, text);
console.log(text);
