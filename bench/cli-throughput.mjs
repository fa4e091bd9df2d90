// The bench's headline: KD training throughput as a user gets it, the student phase's samples/s that
// report.json shows (throughput.trainSamplesPerSec: the phase's training rows over its wall time, first
// step included) for a CLI run (`tfjs-distill run`, default settings but the job's: the bench's dense and
// CNN students, batch 256, Adam, KD loss on imported soft labels), at each worker count, next to PyTorch
// on the same job in the same rounds: every setting of its thread grid (bench/pytorch-reference.mjs), each
// timed over settings.pytorchSteps steps after a warm-up step, settings.pytorchRepeats times, median; its
// best setting per model is the reference. Each round runs every CLI run and every PyTorch setting in turn.
//   node bench/cli-throughput.mjs [--rounds 3] [--epochs 3] [--workers 1,2] [--out bench/results/cli-throughput]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { median } from './metrics.mjs';
import { describePytorch, pytorchCommand, pytorchSettings } from './pytorch-reference.mjs';
import { renderHeadline } from './render-headline.mjs';
import { kdRunArgs, writeDigitLogits } from './teacher-logits.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: { rounds: { type: 'string' }, epochs: { type: 'string' }, workers: { type: 'string' }, out: { type: 'string' } },
});
const rounds = Number(args.rounds ?? 3);
const epochs = Number(args.epochs ?? 3);
const cores = os.availableParallelism();
const workerCounts = (args.workers ?? [...new Set([1, cores])].join(',')).split(',').map(Number);
const out = (args.out ?? 'bench/results/cli-throughput').replace(/\.json$/, ''); // FILE.json and FILE.md
const settings = BENCH_SETTINGS.full;
const specs = [settings.denseModel, settings.cnnModel];
const log = (line) => console.error(`[cli-throughput ${new Date().toISOString().slice(11, 19)}] ${line}`);
const loadAtStart = os.loadavg();

// Soft labels for the bundled digits' training rows: seeded logits, as every tfjs-distill bench row uses.
const scratch = await mkdtemp(join(os.tmpdir(), 'tfjs-distill-cli-throughput-'));
const logitsFile = await writeDigitLogits(scratch);

/** One CLI run; the student phase's samples/s and what else report.json says about the run's setup. */
async function cliRun(spec, workers, round) {
  const dir = join(scratch, `run-${spec.replace(/[^a-z0-9]/gi, '_')}-W${workers}-round${round}`);
  const cliArgs = kdRunArgs({ spec, workers, epochs, logitsFile, out: dir, settings });
  await run(process.execPath, cliArgs, { maxBuffer: 64 * 2 ** 20 });
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
  await rm(dir, { recursive: true, force: true });
  return { samplesPerSec: report.throughput.trainSamplesPerSec, kernels: report.kernels };
}

const cliRuns = []; // { spec, workers, round, samplesPerSec }
const pytorchRuns = []; // { setting, round, mlp, cnn }
let pytorchVersion;
for (let round = 0; round < rounds; round++) {
  for (const spec of specs) {
    for (const workers of workerCounts) {
      log(`round ${round + 1}: tfjs-distill run ${spec}, W=${workers}`);
      cliRuns.push({ spec, workers, round, ...(await cliRun(spec, workers, round)) });
    }
  }
  for (const setting of pytorchSettings(cores)) {
    log(`round ${round + 1}: PyTorch ${describePytorch(setting)}`);
    const file = join(scratch, 'pytorch.json');
    const { command, args: pyArgs, env } = pytorchCommand(setting, settings);
    await run(command, [...pyArgs, '--out', file], { env, maxBuffer: 64 * 2 ** 20 });
    const measured = JSON.parse(await readFile(file, 'utf8'));
    pytorchVersion = measured.torch;
    pytorchRuns.push({
      setting: { ...setting, threads: measured.result.threads },
      round,
      mlp: measured.result.mlp.train,
      cnn: measured.result.cnn.train,
    });
  }
  // Every round's runs so far, kept should a later round fail.
  await writeFile(`${out}.runs.json`, JSON.stringify({ cliRuns, pytorchRuns }));
}
await rm(scratch, { recursive: true, force: true });

const range = (values) => [Math.min(...values), Math.max(...values)];
const rows = [];
for (const spec of specs) {
  const arch = spec.startsWith('mlp') ? 'mlp' : 'cnn';
  // PyTorch's best: the setting with the highest median over the rounds.
  const bySetting = new Map();
  for (const r of pytorchRuns) bySetting.set(describePytorch(r.setting), [...(bySetting.get(describePytorch(r.setting)) ?? []), r]);
  const [bestName, bestRuns] = [...bySetting].sort((a, b) => median(b[1].map((r) => r[arch])) - median(a[1].map((r) => r[arch])))[0];
  const pytorchBest = median(bestRuns.map((r) => r[arch]));
  for (const workers of workerCounts) {
    const runs = cliRuns.filter((r) => r.spec === spec && r.workers === workers);
    const samplesPerSec = median(runs.map((r) => r.samplesPerSec));
    // Each round's ratio against the same round's PyTorch best-setting run.
    const ratios = runs.map((r) => r.samplesPerSec / bestRuns.find((p) => p.round === r.round)[arch]);
    rows.push({
      spec,
      workers,
      samplesPerSec,
      samplesPerSecRange: range(runs.map((r) => r.samplesPerSec)),
      kernels: runs[0].kernels,
      pytorchBest: { setting: bestName, samplesPerSec: pytorchBest, range: range(bestRuns.map((r) => r[arch])) },
      ratio: samplesPerSec / pytorchBest,
      ratioRange: range(ratios),
    });
  }
}
const result = {
  settings: {
    batchSize: settings.batchSize,
    learningRate: settings.learningRate,
    temperature: settings.temperature,
    alpha: settings.alpha,
  },
  processor: os.cpus()[0]?.model ?? 'unknown',
  cores,
  rounds,
  epochs,
  pytorch: pytorchVersion,
  pytorchSteps: settings.pytorchSteps,
  pytorchRepeats: settings.pytorchRepeats,
  loadAverage: { start: loadAtStart, end: os.loadavg() },
  rows,
  pytorchRuns,
};
await writeFile(`${out}.json`, `${JSON.stringify(result, null, 1)}\n`);
await rm(`${out}.runs.json`);
await writeFile(`${out}.md`, `# Headline: KD training as a CLI run reports it\n\n${renderHeadline(result)}`);
console.log(renderHeadline(result));
