// Where training on every worker starts to pay: CLI runs in one two-worker pool, the student trained on one rank
// (--train-workers 1) and on two (--train-workers 2), side by side, round by round, for students and batch
// sizes whose per-step work (forward multiply-adds per row x batch, what trainWorkers 'auto' decides from)
// spans the threshold. Text students: the SpamAssassin corpus and random teacher logits, as bench/text.mjs
// runs them (text defaults: 5 epochs, Adam lr 0.01). Image students: MNIST rows labelled by an untrained
// teacher (--allow-weak-teacher), 2 epochs. The figure is report.json's student-phase samples/s; medians over
// the rounds, with the range and the 1-minute load average. Not part of `npm run bench`. Needs a build (dist/):
//   npm run build && node bench/train-ranks.mjs [--rounds 3] [--only 'cnn1d:32,64 b32' --only mlp:128] [--out FILE]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { TRAIN_RANKS_MIN_WORK } from '../dist/options/parallelism.js';
import { writeTextLogits } from './teacher-logits.mjs';
import { writeSpamCorpus } from './spam-corpus.mjs';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string' }, only: { type: 'string', multiple: true }, out: { type: 'string' } },
});
const rounds = Number(args.rounds ?? 3);
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const TOKENIZER = fileURLToPath(new URL('../test/fixtures/tokenizers/spam-unigram', import.meta.url));
const run = promisify(execFile);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const log = (line) => console.error(`[train-ranks ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** The students and batches measured: text ones on the spam corpus, image ones on MNIST. */
const CASES = [
  { data: 'text', student: 'bag:32', batch: 32 },
  { data: 'text', student: 'bag:32', batch: 128 },
  { data: 'text', student: 'cnn1d:16,16', batch: 32 },
  { data: 'text', student: 'cnn1d:32,64', batch: 32 },
  { data: 'mnist', student: 'mlp:32', batch: 128 },
  { data: 'mnist', student: 'mlp:128', batch: 128 },
  { data: 'mnist', student: 'mlp:256,256', batch: 128 },
  { data: 'mnist', student: 'cnn:16,32', batch: 256 },
  { data: 'mnist', student: 'mlp:1024,1024', batch: 256 },
].filter((c) => !args.only || args.only.some((only) => `${c.student} b${c.batch}`.startsWith(only)));

const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-train-ranks-'));
try {
  const corpus = writeSpamCorpus(scratch);
  const logits = await writeTextLogits(scratch, corpus.train);
  const dataFlags = {
    text: ['--data', `text:${corpus.train}`, '--test-data', `text:${corpus.test}`, '--tokenizer', TOKENIZER, '--max-length', '128'],
    mnist: ['--data', 'mnist', '--teacher-arch', 'mlp:16', '--epochs', '2'],
  };
  const teacherFlags = { text: ['--teacher-logits', logits], mnist: [] };
  /** One CLI run; its report's student phase and the work per step its training worker choice went by. */
  const cliRun = async ({ data, student, batch }, trainWorkers) => {
    const out = join(scratch, 'run');
    await rm(out, { recursive: true, force: true });
    await run(process.execPath, [
      CLI,
      'run',
      ...dataFlags[data],
      ...teacherFlags[data],
      ...['--student-arch', student, '--batch-size', String(batch), '--out', out, '--allow-weak-teacher'],
      ...['--workers', '2', '--train-workers', String(trainWorkers)],
    ]);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    const phase = report.phases.find((p) => p.phase === 'student');
    if (phase.workers !== trainWorkers) throw new Error(`asked for ${trainWorkers} training workers, the report says ${phase.workers}`);
    return phase.samplesPerSec;
  };
  const seen = new Map();
  for (let round = 0; round < rounds; round++) {
    for (const c of CASES) {
      for (const ranks of round % 2 === 0 ? [1, 2] : [2, 1]) {
        const rate = await cliRun(c, ranks);
        const key = `${c.student} b${c.batch} R=${ranks}`;
        if (!seen.has(key)) seen.set(key, { rates: [], loads: [] });
        seen.get(key).rates.push(rate);
        seen.get(key).loads.push(loadavg()[0]);
        log(`round ${round + 1}: ${key} ${fmt(rate)} samples/s, load ${loadavg()[0].toFixed(2)}`);
      }
    }
  }
  const { buildModel } = await import('../dist/models/architectures.js');
  const { forwardMultiplyAdds } = await import('../dist/models/multiply-adds.js');
  const shapes = { text: { inputShape: [128], numClasses: 2, vocabSize: 4000 }, mnist: { inputShape: [28, 28], numClasses: 10 } };
  const lines = [
    `Two-worker pool, the student trained on 1 rank and on 2, side by side; median of ${rounds} rounds (range), 1-minute load average.`,
    `trainWorkers 'auto' trains on every worker from ${fmt(TRAIN_RANKS_MIN_WORK)} multiply-adds per step (2^${Math.log2(TRAIN_RANKS_MIN_WORK)}).`,
    '',
    '| student | batch | multiply-adds per step | 1 rank, samples/s | 2 ranks, samples/s | 2 ranks / 1 rank | load average | auto |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of CASES) {
    const work = forwardMultiplyAdds(buildModel(c.student, shapes[c.data])) * c.batch;
    const [one, two] = [1, 2].map((r) => seen.get(`${c.student} b${c.batch} R=${r}`));
    const range = (s) => `${fmt(median(s.rates))} (${fmt(Math.min(...s.rates))}–${fmt(Math.max(...s.rates))})`;
    const loads = [...one.loads, ...two.loads];
    lines.push(
      `| ${c.student} | ${c.batch} | ${fmt(work)} | ${range(one)} | ${range(two)} | ${(median(two.rates) / median(one.rates)).toFixed(2)}x | ` +
        `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} | ${work < TRAIN_RANKS_MIN_WORK ? 1 : 2} |`,
    );
  }
  lines.push(
    '',
    `\`node bench/train-ranks.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString()}`,
  );
  const markdown = `${lines.join('\n')}\n`;
  console.log(markdown);
  if (args.out) await writeFile(args.out, markdown);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
