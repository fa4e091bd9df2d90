// The dense chain's A/B: the CLI run of bench/cli-throughput.mjs (KD on imported soft labels for the bundled
// digits, batch 256, Adam) with the plain dense students' native training pass (B) and with it switched off
// (A, TFJS_DISTILL_DENSE_CHAIN=off: tfjs's autograd, as before it), interleaved round by round so that the
// load of a shared machine falls on both alike. Figures: report.json's student-phase samples/s and its step
// breakdown (ms per step: the gradient pass, the averaging and its wait, the update); medians over the
// rounds, with ranges and the 1-minute load average beside each round. Not part of `npm run bench`:
//   node bench/dense-chain-ab.mjs [--rounds 3] [--epochs 1] [--workers 2] [--students mlp:1024,1024,cnn:16,32]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { median } from './metrics.mjs';
import { kdRunArgs, writeDigitLogits } from './teacher-logits.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: { rounds: { type: 'string' }, epochs: { type: 'string' }, workers: { type: 'string' }, students: { type: 'string' } },
});
const rounds = Number(args.rounds ?? 3);
const epochs = Number(args.epochs ?? 1);
const workerCounts = (args.workers ?? '2').split(',').map(Number);
const students = (args.students ?? BENCH_SETTINGS.full.denseModel).split(/,(?=[a-z])/);
const settings = BENCH_SETTINGS.full;
const log = (line) => console.error(`[dense-chain-ab ${new Date().toISOString().slice(11, 19)}] ${line}`);

const scratch = await mkdtemp(join(os.tmpdir(), 'tfjs-distill-dense-chain-ab-'));
const logitsFile = await writeDigitLogits(scratch);

async function cliRun(spec, workers, chain, round) {
  const dir = join(scratch, `run-${round}-${chain}`);
  const cliArgs = kdRunArgs({ spec, workers, epochs, logitsFile, out: dir, settings });
  const env = { ...process.env, TFJS_DISTILL_DENSE_CHAIN: chain ? 'on' : 'off' };
  await run(process.execPath, cliArgs, { env, maxBuffer: 64 * 2 ** 20 });
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
  await rm(dir, { recursive: true, force: true });
  return { samplesPerSec: report.throughput.trainSamplesPerSec, stepMs: report.phases.find((p) => p.phase === 'student')?.stepMs };
}

const runs = [];
for (let round = 0; round < rounds; round++) {
  for (const spec of students) {
    for (const workers of workerCounts) {
      // Alternate which arm goes first, so neither always runs after the other.
      for (const chain of round % 2 === 0 ? [false, true] : [true, false]) {
        const load = os.loadavg()[0];
        const result = await cliRun(spec, workers, chain, round);
        log(
          `round ${round + 1} ${spec} W=${workers} ${chain ? 'chain' : 'tfjs '}: ${result.samplesPerSec.toFixed(0)} samples/s (load ${load.toFixed(2)}) ${JSON.stringify(result.stepMs)}`,
        );
        runs.push({ spec, workers, chain, round, load, ...result });
      }
    }
  }
}
await rm(scratch, { recursive: true, force: true });

const fmt = (values, digits = 0) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
for (const spec of students) {
  for (const workers of workerCounts) {
    const arm = (chain) => runs.filter((r) => r.spec === spec && r.workers === workers && r.chain === chain);
    const [a, b] = [arm(false), arm(true)];
    const ratios = b.map((r) => r.samplesPerSec / a.find((x) => x.round === r.round).samplesPerSec);
    console.log(
      `${spec} W=${workers}: tfjs ${fmt(a.map((r) => r.samplesPerSec))} samples/s, chain ${fmt(b.map((r) => r.samplesPerSec))}; chain/tfjs ${fmt(ratios, 3)}; load ${fmt(
        runs.map((r) => r.load),
        2,
      )}`,
    );
    for (const key of ['gradient', 'averaging', 'waiting', 'update']) {
      const ms = (rs) => rs.map((r) => r.stepMs?.[key]).filter((v) => v !== undefined);
      if (ms(a).length) console.log(`  ${key} ms/step: tfjs ${fmt(ms(a), 2)}, chain ${fmt(ms(b), 2)}`);
    }
  }
}
