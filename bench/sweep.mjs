// Sweep scheduling: with W workers and a small student (mlp:32 on the bundled digits), how much faster a
// sweep of 2W trials runs its trials side by side (`schedule concurrent`, and `auto`, with the mode it
// picked) than the same trials one after another, each on one worker (the same sweep with workers 1: every
// trial trains exactly as it does in a concurrent sweep). And that the teacher labels once, whatever the
// number of trials: each sweep's store is written before its first trial and never again, every trial
// reads it, and its labelling time is one label() of the same rows (timed alone in the same round).
// Rounds run every arm in turn, so that contention from other work hits each of them; each figure is the
// median round, with the range; the speed-ups are taken within a round and their median reported.
// Not part of `npm run bench`. Needs a build (dist/):
//   npm run build && node bench/sweep.mjs [--workers W] [--rounds 3] [--epochs 3] [--out FILE]
// Prints a markdown table and writes it to --out (default bench/results/sweep.md).
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { label, sweep } from '../dist/index.js';
import { loadMnist } from '../dist/data/mnist.js';
import { buildModel } from '../dist/models/architectures.js';
import { saveModel } from '../dist/models/model-files.js';
import { median } from './metrics.mjs';

const { values: args } = parseArgs({
  options: { workers: { type: 'string' }, rounds: { type: 'string' }, epochs: { type: 'string' }, out: { type: 'string' } },
});
const workers = Number(args.workers ?? availableParallelism());
const rounds = Number(args.rounds ?? 3);
const epochs = Number(args.epochs ?? 3);
for (const [name, value] of Object.entries({ workers, rounds, epochs })) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`bench/sweep: --${name} must be a whole number of at least 1; got ${value}`);
    process.exit(1);
  }
}
const log = (line) => console.error(`[sweep ${new Date().toISOString().slice(11, 19)}] ${line}`);
const STUDENT = 'mlp:32';
const LABELED = 500;
// 2W grid points: W temperatures by two alphas, all of one small student.
const grid = { temperature: Array.from({ length: workers }, (_, i) => i + 1), alpha: [0.5, 0.9] };
const trialCount = 2 * workers;

await tf.setBackend('cpu');
const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-bench-sweep-'));
const { train, test } = await loadMnist();

/** A teacher that knows the digits: an mlp:128 fitted for two epochs on this thread, saved for the sweeps to load. */
async function trainTeacher() {
  const model = buildModel('mlp:128', { inputShape: [28, 28], numClasses: 10, seed: 1 });
  model.compile({ optimizer: tf.train.adam(0.003), loss: (y, logits) => tf.losses.softmaxCrossEntropy(y, logits) });
  const xs = tf.tensor(Float32Array.from(train.x), train.shape);
  const ys = tf.oneHot(tf.tensor1d(train.y, 'int32'), 10);
  await model.fit(xs, ys, { epochs: 2, batchSize: 128, verbose: 0 });
  tf.dispose([xs, ys]);
  const dir = join(scratch, 'teacher');
  await saveModel(model, dir);
  model.dispose();
  return dir;
}

/** One sweep of the 2W trials: its wall time, labelling time, schedule, and whether its store was written only before the trials. */
async function timedSweep(arm, sweepWorkers, schedule, teacher) {
  const out = join(scratch, arm);
  await rm(out, { recursive: true, force: true });
  const store = join(out, 'soft-labels.sl');
  let storeAtFirstTrial = null;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const { report } = await sweep({
    teacher,
    student: STUDENT,
    train,
    test,
    labeled: LABELED,
    epochs,
    grid,
    workers: sweepWorkers,
    schedule,
    out,
    onTrial: async () => {
      storeAtFirstTrial ??= (await stat(store)).mtimeMs;
    },
  });
  const seconds = (performance.now() - started) / 1000;
  // Every thread of this process (the sweep's workers and its measuring thread included), labelling and all.
  const cpu = process.cpuUsage(cpuBefore);
  const trialsRead = await Promise.all(
    report.trials.map(async (trial) => JSON.parse(await readFile(join(out, trial.folder, 'report.json'), 'utf8')).softLabels.reused),
  );
  const storeUnchanged = storeAtFirstTrial !== null && (await stat(store)).mtimeMs === storeAtFirstTrial;
  return {
    arm,
    seconds,
    labelSeconds: report.labelling.seconds,
    trialSeconds: seconds - report.labelling.seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mode: report.schedule.mode,
    reason: report.schedule.reason,
    measured: report.schedule.measured,
    trials: report.trials.length,
    labelledOnce: storeUnchanged && trialsRead.every(Boolean),
  };
}

/** One label() of the same rows on W workers, alone: the teacher's labelling time (as a sweep records it) of one pass in this round. */
async function timedLabel(teacher) {
  const file = join(scratch, 'alone.sl');
  await rm(file, { force: true });
  const labelled = await label({ teacher, train, softLabels: file, workers });
  return { arm: 'label', seconds: labelled.labelSeconds };
}

const loadAtStart = loadavg();
log(`training the teacher; ${trialCount} trials of ${STUDENT}, ${epochs} epochs, W=${workers}`);
const teacher = await trainTeacher();
const measured = [];
for (let round = 0; round < rounds; round++) {
  const runs = [
    await timedSweep('one after another', 1, 'data-parallel', teacher),
    await timedSweep('concurrent', workers, 'concurrent', teacher),
    await timedSweep('auto', workers, 'auto', teacher),
    await timedLabel(teacher),
  ];
  const [sequential] = runs;
  for (const run of runs) {
    measured.push({ ...run, round, speedup: run.trialSeconds ? sequential.trialSeconds / run.trialSeconds : null });
  }
  log(`round ${round + 1}: ${runs.map((r) => `${r.arm} ${r.seconds.toFixed(1)} s`).join(', ')}; load ${loadavg()[0].toFixed(2)}`);
}
const loadAtEnd = loadavg();
await rm(scratch, { recursive: true, force: true });

const ofArm = (arm) => measured.filter((r) => r.arm === arm);
const spread = (values, digits = 1) => {
  const m = median(values).toFixed(digits);
  return values.length > 1 ? `${m} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})` : m;
};
const labelAlone = ofArm('label').map((r) => r.seconds);
const lines = [
  `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}; load average at start ` +
    `${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at the end ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')}.`,
  '',
  `A sweep of ${trialCount} trials (temperature ${grid.temperature.join(', ')} by alpha ${grid.alpha.join(', ')}) of an ${STUDENT} student ` +
    `on the bundled digits (${train.y.length.toLocaleString('en-US')} training rows, ${LABELED} labelled, validation a tenth of those), ` +
    `${epochs} epochs each, plus its hard-label baseline, from an mlp:128 teacher; W = ${workers} workers. ` +
    '"one after another" is the same sweep with workers 1: each trial, then the next, on one worker, as a concurrent sweep trains each. ' +
    "Trial time is the sweep's wall time less its labelling (auto's measurement included). " +
    `Median of ${rounds} round${rounds === 1 ? '' : 's'}, each running every arm in turn; the range is the lowest and highest round; ` +
    "the speed-up is the one-after-another trial time over the arm's, within a round.",
  '',
  '| arm | workers | mode run | wall s | labelling s | trials s | speed-up of the trials | target 0.8 x W | CPU s | cores busy | labelled once |',
  '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
];
for (const arm of ['one after another', 'concurrent', 'auto']) {
  const rows = ofArm(arm);
  const modes = [...new Set(rows.map((r) => r.mode))].join(' / ');
  const speedup =
    arm === 'one after another'
      ? '1'
      : `${spread(
          rows.map((r) => r.speedup),
          2,
        )}x`;
  const target = arm === 'one after another' ? '' : `${(0.8 * workers).toFixed(1)}x`;
  lines.push(
    `| ${arm} | ${arm === 'one after another' ? 1 : workers} | ${modes} | ${spread(rows.map((r) => r.seconds))} | ` +
      `${spread(
        rows.map((r) => r.labelSeconds),
        2,
      )} | ${spread(rows.map((r) => r.trialSeconds))} | ${speedup} | ${target} | ` +
      `${spread(rows.map((r) => r.cpuSeconds))} | ${spread(
        rows.map((r) => r.cpuSeconds / r.seconds),
        2,
      )} | ${rows.every((r) => r.labelledOnce) ? `yes, ${rows.length} of ${rows.length}` : 'NO'} |`,
  );
}
// The most an arm could gain on this machine: its CPU work spread evenly over every core, with no idle moment,
// against the one-after-another arm's trial time in the same round.
const cores = Math.min(workers, availableParallelism());
const ceiling = (arm) =>
  ofArm(arm).map((r) => ofArm('one after another').find((s) => s.round === r.round).trialSeconds / (r.cpuSeconds / cores));
lines.push(
  '',
  `CPU s is the CPU time of every thread of the process over the sweep (labelling included); cores busy is CPU s over wall s. ` +
    `On ${cores} cores an arm cannot take less wall time than its CPU s / ${cores}, so its speed-up is at most the ` +
    `one-after-another trial time over that: concurrent ${spread(ceiling('concurrent'), 2)}x, auto ${spread(ceiling('auto'), 2)}x ` +
    `(median of the rounds, with the range).`,
);
const autoReasons = [...new Set(ofArm('auto').map((r) => `${r.mode}: ${r.reason}`))];
// What auto's measurement cost, beside the trials it chose for: its steps and wall time (both pools' starts included).
const autoMeasured = ofArm('auto').filter((r) => r.measured);
const measuredSeconds = autoMeasured.map((r) => r.measured.seconds);
const measuredShare = autoMeasured.map((r) => (100 * r.measured.seconds) / r.trialSeconds);
lines.push(
  '',
  `Labelling: one label() of the ${train.y.length.toLocaleString('en-US')} rows alone on ${workers} workers took ${spread(labelAlone, 2)} s; ` +
    'each sweep labelled once (the labelling column) for its ' +
    `${trialCount} trials and baseline: the store was not written again after its first trial finished, and every trial's report says it read the store.`,
  '',
  `auto's choice, per round: ${autoReasons.join('; ')}`,
  '',
  autoMeasured.length === 0
    ? 'auto measured nothing (its rule chose without timing).'
    : `auto's measurement: ${autoMeasured.map((r) => `${r.measured.steps} steps of ${r.measured.stepsPerEpoch} per epoch`).join(', ')} ` +
        `on ${workers} single-worker pools side by side and on one of ${workers}, after a warm-up step, the best of ` +
        `${autoMeasured[0].measured.rounds ?? 1} rounds after a warm-up round; ${spread(measuredSeconds, 2)} s in all, ` +
        `${spread(measuredShare, 1)}% of auto's trial time.`,
  '',
  `\`node bench/sweep.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString()}`,
);
const markdown = `${lines.join('\n')}\n`;
const out = args.out ?? fileURLToPath(new URL('./results/sweep.md', import.meta.url));
await writeFile(`${out}.tmp`, markdown);
await rename(`${out}.tmp`, out);
console.log(markdown);
console.log(`wrote ${out}`);
