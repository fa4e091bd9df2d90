// Text rows: tokenisation alone, and the text students' training rate next to PyTorch's, side by side in one run.
// The corpus is the SpamAssassin e-mails (bench/spam-corpus.mjs, from the devDependency), tokenised by the
// Unigram fixture tokenizer (test/fixtures/tokenizers/spam-unigram) at --max-length.
// - Tokenisation: tokeniseFiles (what text:FILE runs) on train.jsonl, rows/s, with W = 1 (tokenised on the
//   calling thread) and W = every core (tokenising threads writing into shared memory); each run timed whole,
//   reading the file included.
// - Training, headline: a CLI run (`tfjs-distill run --data text:train.jsonl --teacher-logits ...`) with the
//   defaults a user gets (epochs, batch, Adam and its learning rate, the KD loss, workers: every core), and again
//   with --workers 1; the figure is the student phase's samples/s that the run's report.json shows: every
//   step of every epoch, the first steps' warm-up included. The teacher is seeded random logits (no teacher
//   runs). Beside it, PyTorch (bench/pytorch_text.py) on the same token ids, student, batch, optimizer and
//   loss at every torch thread count from 1 to the cores and its default: the median of --torch-rounds rounds
//   of the fewest whole epochs that make at least 40 steps, after a warm-up.
// - Training, steady state: tfjs-distill's in-step rate (report.json's stepMs: gradient, averaging and update
//   per step, the first step left out) against the same PyTorch medians.
// Rounds run every setting in turn; each figure is its median round, with the range and the 1-minute load
// average the rounds saw. Not part of `npm run bench`. Needs a build (dist/):
//   npm run build && node bench/text.mjs [--rounds 3] [--torch-rounds 5] [--max-length 128] [--students bag:32,cnn1d:32,64] [--out FILE]
// Prints a markdown table and writes it to --out (default bench/results/text.md).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { tokeniseFiles } from '../dist/data/text/tokenised-file.js';
import { readTokenizerFiles } from '../dist/data/text/tokenizer-files.js';
import { TextTokenizer } from '../dist/data/text/tokenizer.js';
import { medianAcrossRounds } from './metrics.mjs';
import { npyFloat32 } from './npy-writer.mjs';
import { writeSpamCorpus } from './spam-corpus.mjs';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string' },
    'torch-rounds': { type: 'string' },
    'max-length': { type: 'string' },
    students: { type: 'string' },
    out: { type: 'string' },
  },
});
const rounds = Number(args.rounds ?? 3);
const torchRounds = Number(args['torch-rounds'] ?? 5);
const maxLength = Number(args['max-length'] ?? 128);
const students = (args.students ?? 'bag:32,cnn1d:32,64').split(/,(?=[a-z])/);
const cores = availableParallelism();
// What the CLI run resolved when no flag said otherwise (its report.json's config: the text defaults, and the
// temperature and alpha for its labelled share), set by the first run: PyTorch gets the same.
let used;
const PYTHON = '/usr/bin/python3';
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const TOKENIZER = fileURLToPath(new URL('../test/fixtures/tokenizers/spam-unigram', import.meta.url));
const log = (line) => console.error(`[text-bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const run = promisify(execFile);

/** The processor as /proc/cpuinfo names it, with its family and model numbers (os.cpus() alone can be vague). */
function processor() {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1].trim();
    return `${field('model name')}, family ${field('cpu family')} model ${field('model')}`;
  } catch {
    return cpus()[0]?.model ?? 'unknown CPU';
  }
}

const tokenizerFiles = readTokenizerFiles(TOKENIZER);
const tokenizer = new TextTokenizer(tokenizerFiles, { maxLength });

async function tokenise(file, workers) {
  const started = performance.now();
  const [table] = await tokeniseFiles([file], {
    tokenizer,
    files: tokenizerFiles,
    fields: { textField: 'text', labelField: 'label' },
    maxLength,
    workers,
  });
  return { table, samplesPerSec: table.rows / ((performance.now() - started) / 1000) };
}

/** A CLI run distilling `spec` from the logits; its report.json's student phase: samples/s, and the in-step rate. */
async function cliRate(spec, corpus, logits, workers, scratch) {
  const out = join(scratch, 'run');
  await rm(out, { recursive: true, force: true });
  await run(process.execPath, [
    CLI,
    'run',
    ...['--data', `text:${corpus.train}`, '--test-data', `text:${corpus.test}`, '--tokenizer', TOKENIZER],
    ...['--max-length', String(maxLength), '--teacher-logits', logits, '--student-arch', spec, '--out', out],
    '--allow-weak-teacher', // random logits: the speed is on trial
    ...(workers === cores ? [] : ['--workers', String(workers)]),
  ]);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  used = report.config;
  const phase = report.phases.find((p) => p.phase === 'student');
  const { gradient, averaging, update } = phase.stepMs;
  return {
    samplesPerSec: phase.samplesPerSec,
    inStep: (used.batchSize / (gradient + averaging + update)) * 1000,
    steps: phase.steps,
    trainWorkers: report.trainWorkers,
  };
}

/**
 * How much faster two threads do a fixed amount of JavaScript work than one, each with half of it: about 2 on
 * two free cores, about 1 where the machine's other work leaves this process one core's worth of time.
 */
async function threadSpeedup() {
  const work = (threads) => {
    const started = performance.now();
    const code =
      "const { parentPort, workerData } = require('node:worker_threads'); let x = 0; " +
      'for (let i = 0; i < workerData; i++) x += Math.sqrt(i); parentPort.postMessage(x);';
    const done = Array.from({ length: threads }, () => {
      const worker = new Worker(code, { eval: true, workerData: 2e8 / threads });
      return new Promise((resolve) => worker.once('message', resolve));
    });
    return Promise.all(done).then(() => performance.now() - started);
  };
  return (await work(1)) / (await work(2));
}

async function torchRate(spec, idsFile, threads, roundSteps, scratch) {
  const out = join(scratch, `torch-${spec}-${threads}.json`);
  await run(PYTHON, [
    fileURLToPath(new URL('./pytorch_text.py', import.meta.url)),
    ...['--ids', idsFile, '--vocab', String(tokenizer.vocabSize), '--model', spec, '--threads', String(threads)],
    ...['--batch', String(used.batchSize), '--temperature', String(used.temperature), '--alpha', String(used.alpha)],
    ...['--lr', String(used.optimizer.learningRate), '--rounds', String(torchRounds), '--round-steps', String(roundSteps), '--out', out],
  ]);
  return JSON.parse(await readFile(out, 'utf8'));
}

const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-text-bench-'));
try {
  const loadAtStart = loadavg();
  const corpus = writeSpamCorpus(scratch);
  const { table } = await tokenise(corpus.train, 1); // warm-up: the page cache, the tokenizer compiled
  const logits = join(scratch, 'logits.npy');
  let state = 7;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 8 - 4;
  await writeFile(logits, npyFloat32(Float32Array.from({ length: table.rows * 2 }, random), [table.rows, 2]));
  const idsFile = join(scratch, 'ids.npy');
  await writeFile(idsFile, npyFloat32(Float32Array.from(table.ids), [table.rows, maxLength]));
  // PyTorch's rounds: the fewest whole epochs (of full batches) that make at least 40 steps.
  const epochSteps = () => Math.floor(table.rows / used.batchSize);
  const roundSteps = () => Math.ceil(40 / epochSteps()) * epochSteps();
  const workerCounts = [...new Set([cores, 1])];
  const threadCounts = [...Array.from({ length: cores }, (_, i) => i + 1), 0];
  const measured = [];
  let torchVersion = '';
  let cliSteps = 0;
  const add = (kind, setting, samplesPerSec, extra = {}) => {
    measured.push({ kind, setting, samplesPerSec, load: loadavg()[0], ...extra });
    log(`${kind} ${setting}: ${kind === 'threads' ? samplesPerSec.toFixed(2) : fmt(samplesPerSec)}`);
  };
  for (let round = 0; round < rounds; round++) {
    log(`round ${round + 1} of ${rounds}`);
    if (cores > 1) add('threads', 'speed-up', await threadSpeedup());
    for (const workers of [...workerCounts].reverse())
      add('tokenise', `W=${workers}`, (await tokenise(corpus.train, workers)).samplesPerSec);
    for (const spec of students) {
      for (const workers of workerCounts) {
        const result = await cliRate(spec, corpus, logits, workers, scratch);
        cliSteps = result.steps;
        // The default run's training workers are trainWorkers' auto choice for the student.
        const setting =
          workers === cores
            ? `tfjs-distill, default workers (${workers}, training on ${result.trainWorkers})`
            : `tfjs-distill --workers ${workers}`;
        add(spec, setting, result.samplesPerSec);
        add(`${spec} in-step`, setting, result.inStep);
      }
      for (const threads of threadCounts) {
        const result = await torchRate(spec, idsFile, threads, roundSteps(), scratch);
        torchVersion = result.torch;
        const setting = `PyTorch, ${threads === 0 ? `default (${result.threads})` : threads} thread${result.threads === 1 ? '' : 's'}`;
        add(spec, setting, result.samplesPerSec);
        add(`${spec} in-step`, setting, result.samplesPerSec);
      }
    }
  }
  const rows = medianAcrossRounds(measured, (r) => `${r.kind} ${r.setting}`);
  const loads = (kind, setting) => {
    const seen = measured.filter((m) => m.kind === kind && m.setting === setting).map((m) => m.load);
    return `${Math.min(...seen).toFixed(1)}–${Math.max(...seen).toFixed(1)}`;
  };
  const range = (r) => (r.rounds > 1 ? `${fmt(r.samplesPerSecRange[0])}–${fmt(r.samplesPerSecRange[1])}` : '-');
  const studentTable = (suffix) => {
    const lines = [
      '| student | setting | samples/s | range over rounds | load average | vs best PyTorch |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
    ];
    for (const spec of students) {
      const own = rows.filter((r) => r.kind === `${spec}${suffix}`);
      const best = Math.max(...own.filter((r) => r.setting.startsWith('PyTorch')).map((r) => r.samplesPerSec));
      for (const r of own) {
        lines.push(
          `| ${spec} | ${r.setting} | ${fmt(r.samplesPerSec)} | ${range(r)} | ${loads(r.kind, r.setting)} | ${(r.samplesPerSec / best).toFixed(2)}x |`,
        );
      }
    }
    return lines;
  };
  const loadAtEnd = loadavg();
  const speedup = rows.find((r) => r.kind === 'threads');
  const range2 = (r) => `${r.samplesPerSecRange[0].toFixed(2)}–${r.samplesPerSecRange[1].toFixed(2)}`;
  const lines = [
    `${processor()}, ${cores} CPUs shared with other work; node ${process.version}, PyTorch ${torchVersion} (Debian's python3-torch). ` +
      `Load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')} at the end; ` +
      "each row's load average column is the 1-minute figure over its rounds. " +
      `${fmt(table.rows)} SpamAssassin e-mails (bench/spam-corpus.mjs), Unigram tokenizer (${fmt(tokenizer.vocabSize)} ids), max length ${maxLength}. ` +
      `Median of ${rounds} round${rounds === 1 ? '' : 's'}, each running every setting in turn; the range is the lowest and highest round.`,
    ...(speedup
      ? [
          '',
          `CPU time this process could get: two threads did a fixed amount of JavaScript work ${speedup.samplesPerSec.toFixed(2)}x ` +
            `(${range2(speedup)} over the rounds) as fast as one thread (2x would be two free cores).`,
        ]
      : []),
    '',
    '| tokenisation (tokeniseFile, reading included) | rows/s | range over rounds | load average |',
    '| --- | ---: | ---: | ---: |',
    ...rows
      .filter((r) => r.kind === 'tokenise')
      .map((r) => `| ${r.setting} | ${fmt(r.samplesPerSec)} | ${range(r)} | ${loads(r.kind, r.setting)} |`),
    '',
    `Student training as a CLI run reports it (report.json's student phase): the defaults, ${used.epochs} epochs (${cliSteps} steps) ` +
      `over every row, batch ${used.batchSize}, ${used.optimizer.name} (lr ${used.optimizer.learningRate}), KD loss (T ${used.temperature}, alpha ${used.alpha}), every ` +
      'step timed, the first steps included. PyTorch: the same student, batch, optimizer and loss on the same token ids, the ' +
      `median of ${torchRounds} rounds of ${roundSteps()} steps (${roundSteps() / epochSteps()} epochs of full batches) after 5 warm-up steps.`,
    '',
    ...studentTable(''),
    '',
    "Steady state: tfjs-distill's in-step rate (report.json's stepMs: gradient, averaging and update per step, the " +
      'first step left out, so without the epoch ends and the progress reports), against the same PyTorch medians.',
    '',
    ...studentTable(' in-step'),
    '',
    `\`node bench/text.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString()}`,
  ];
  const markdown = `${lines.join('\n')}\n`;
  const out = args.out ?? fileURLToPath(new URL('./results/text.md', import.meta.url));
  await writeFile(`${out}.tmp`, markdown);
  await rename(`${out}.tmp`, out);
  console.log(markdown);
  console.log(`wrote ${out}`);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
