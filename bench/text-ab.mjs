// Two builds of tfjs-distill side by side on the text students, interleaved round by round, so that the load
// of a shared machine falls on both alike: the CLI run of bench/text.mjs (the text defaults, random teacher
// logits, the SpamAssassin corpus) with this checkout's dist/ (B) and another build's dist/ (A, --base: e.g. the
// main branch built into a folder whose node_modules resolve to this checkout's). The figure is report.json's
// student-phase samples/s, with the in-step rate beside it; medians over the rounds, with ranges and the
// 1-minute load average. Not part of `npm run bench`:
//   node bench/text-ab.mjs --base /path/to/other/dist [--rounds 3] [--students bag:32,cnn1d:32,64] [--workers 2,1]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { writeTextLogits } from './teacher-logits.mjs';
import { writeSpamCorpus } from './spam-corpus.mjs';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string' },
    students: { type: 'string' },
    workers: { type: 'string' },
    'max-length': { type: 'string' },
  },
});
if (!args.base) throw new Error('--base: the dist/ folder of the build to compare against');
const rounds = Number(args.rounds ?? 3);
const students = (args.students ?? 'bag:32,cnn1d:32,64').split(/,(?=[a-z])/);
const workerCounts = (args.workers ?? '2,1').split(',').map(Number);
const maxLength = Number(args['max-length'] ?? 128);
const builds = { A: join(resolve(args.base), 'cli/main.js'), B: fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)) };
const TOKENIZER = fileURLToPath(new URL('../test/fixtures/tokenizers/spam-unigram', import.meta.url));
const run = promisify(execFile);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-text-ab-'));
try {
  const corpus = writeSpamCorpus(scratch);
  const logits = await writeTextLogits(scratch, corpus.train);
  const cliRate = async (cli, spec, workers) => {
    const out = join(scratch, 'run');
    await rm(out, { recursive: true, force: true });
    await run(process.execPath, [
      cli,
      'run',
      ...['--data', `text:${corpus.train}`, '--test-data', `text:${corpus.test}`, '--tokenizer', TOKENIZER],
      ...['--max-length', String(maxLength), '--teacher-logits', logits, '--student-arch', spec, '--out', out],
      ...['--allow-weak-teacher', '--workers', String(workers)],
    ]);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    const phase = report.phases.find((p) => p.phase === 'student');
    const { gradient, averaging, update } = phase.stepMs;
    return { samplesPerSec: phase.samplesPerSec, inStep: (report.config.batchSize / (gradient + averaging + update)) * 1000 };
  };
  const seen = new Map();
  for (let round = 0; round < rounds; round++) {
    for (const spec of students)
      for (const workers of workerCounts)
        for (const build of round % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
          const key = `${spec} W=${workers} ${build}`;
          const result = await cliRate(builds[build], spec, workers);
          const entry = seen.get(key) ?? { rates: [], inStep: [], loads: [] };
          entry.rates.push(result.samplesPerSec);
          entry.inStep.push(result.inStep);
          entry.loads.push(loadavg()[0]);
          seen.set(key, entry);
          console.error(`[text-ab] round ${round + 1} ${key}: ${fmt(result.samplesPerSec)} samples/s (load ${loadavg()[0].toFixed(2)})`);
        }
  }
  console.log(`A = ${builds.A}\nB = ${builds.B}\nmedian of ${rounds} rounds, A and B interleaved\n`);
  console.log('| student | workers | build | samples/s | range | in-step samples/s | load average | B / A |');
  console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const spec of students)
    for (const workers of workerCounts) {
      const a = seen.get(`${spec} W=${workers} A`);
      for (const build of ['A', 'B']) {
        const e = seen.get(`${spec} W=${workers} ${build}`);
        const ratio = build === 'B' ? `${(median(e.rates) / median(a.rates)).toFixed(2)}x` : '';
        console.log(
          `| ${spec} | ${workers} | ${build} | ${fmt(median(e.rates))} | ${fmt(Math.min(...e.rates))}–${fmt(Math.max(...e.rates))} | ` +
            `${fmt(median(e.inStep))} | ${Math.min(...e.loads).toFixed(1)}–${Math.max(...e.loads).toFixed(1)} | ${ratio} |`,
        );
      }
    }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
