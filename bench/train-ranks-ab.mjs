// One text student at the text defaults (bench/text.mjs's CLI run: the SpamAssassin corpus, random teacher logits)
// three ways, in alternating order round by round: one rank of a two-worker pool (--workers 2 --train-workers 1),
// a one-worker pool (--workers 1), and two ranks (--workers 2 --train-workers 2). Prints each run's student-phase
// samples/s and in-step rate with the 1-minute load average, then the medians and ranges. Not part of
// `npm run bench`. Needs a build (dist/):
//   node bench/train-ranks-ab.mjs [--student bag:32] [--rounds 4]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { writeTextLogits } from './teacher-logits.mjs';
import { writeSpamCorpus } from './spam-corpus.mjs';

const { values: args } = parseArgs({ options: { student: { type: 'string' }, rounds: { type: 'string' } } });
const spec = args.student ?? 'bag:32';
const rounds = Number(args.rounds ?? 4);
const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const TOKENIZER = fileURLToPath(new URL('../test/fixtures/tokenizers/spam-unigram', import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ARMS = {
  'one rank of two workers': ['--workers', '2', '--train-workers', '1'],
  'one worker': ['--workers', '1'],
  'two ranks of two workers': ['--workers', '2', '--train-workers', '2'],
};

const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-train-ranks-ab-'));
try {
  const corpus = writeSpamCorpus(scratch);
  const logits = await writeTextLogits(scratch, corpus.train);
  const seen = {};
  for (let round = 0; round < rounds; round++) {
    const names = Object.keys(ARMS);
    if (round % 2) names.reverse();
    for (const name of names) {
      const out = join(scratch, 'run');
      await rm(out, { recursive: true, force: true });
      await run(process.execPath, [
        CLI,
        'run',
        ...['--data', `text:${corpus.train}`, '--test-data', `text:${corpus.test}`, '--tokenizer', TOKENIZER, '--max-length', '128'],
        ...['--teacher-logits', logits, '--student-arch', spec, '--out', out, '--allow-weak-teacher', ...ARMS[name]],
      ]);
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
      const phase = report.phases.find((p) => p.phase === 'student');
      const { gradient, averaging, update } = phase.stepMs;
      const inStep = (report.config.batchSize / (gradient + averaging + update)) * 1000;
      (seen[name] ??= []).push(phase.samplesPerSec);
      console.log(
        `round ${round + 1}, ${name}: ${Math.round(phase.samplesPerSec)} samples/s, in-step ${Math.round(inStep)}, load ${loadavg()[0].toFixed(2)}`,
      );
    }
  }
  for (const [name, rates] of Object.entries(seen)) {
    console.log(
      `${spec}, ${name}: median ${Math.round(median(rates))} samples/s (${Math.round(Math.min(...rates))} to ${Math.round(Math.max(...rates))})`,
    );
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
