// Text rows: tokenisation alone, and the text students' training rate next to PyTorch's, side by side in one run.
// The corpus is the SpamAssassin e-mails (bench/spam-corpus.mjs, from the devDependency), tokenised by the
// Unigram fixture tokenizer (test/fixtures/tokenizers/spam-unigram) at --max-length.
// - Tokenisation: tokeniseFile (what text:FILE runs) on train.jsonl, rows/s, with W = 1 (tokenised on the
//   calling thread) and W = every core (tokenising threads writing into shared memory); each run timed whole,
//   reading the file included.
// - Training: the student (bag:D, cnn1d:D,F) distilled by distill() on the tokenised rows, from seeded random
//   teacher logits (teacherLogits, so no teacher runs), one epoch (--epochs), Adam, the KD loss; the rate is the student
//   phase's own (report.phases), at W = 1 and every core. Beside it, PyTorch (bench/pytorch_text.py) on the same
//   ids, student, batch, optimizer and loss at every torch thread count from 1 to the cores, and its default.
// Rounds run every setting in turn; each figure is its median round, with the range. Not part of `npm run bench`.
// Needs a build (dist/):
//   npm run build && node bench/text.mjs [--rounds 3] [--batch 128] [--max-length 128] [--epochs 1] [--out FILE]
// (--epochs N: tfjs-distill's rate over N epochs, first steps included, against PyTorch's median epoch of N)
// Prints a markdown table and writes it to --out (default bench/results/text.md).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { tokeniseFile } from '../dist/data/text/tokenised-file.js';
import { tokenRowsInfo } from '../dist/data/text/token-rows.js';
import { readTokenizerFiles } from '../dist/data/text/tokenizer-files.js';
import { TextTokenizer } from '../dist/data/text/tokenizer.js';
import { buildModel, distill } from '../dist/index.js';
import { medianAcrossRounds } from './metrics.mjs';
import { writeSpamCorpus } from './spam-corpus.mjs';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string' },
    batch: { type: 'string' },
    'max-length': { type: 'string' },
    students: { type: 'string' },
    epochs: { type: 'string' },
    out: { type: 'string' },
  },
});
const rounds = Number(args.rounds ?? 3);
const batch = Number(args.batch ?? 128);
const maxLength = Number(args['max-length'] ?? 128);
// One epoch is what a short run gets, its first steps' warm-up included; more show the steady state.
const epochs = Number(args.epochs ?? 1);
const students = (args.students ?? 'bag:32,cnn1d:32,64').split(/,(?=[a-z])/);
const cores = availableParallelism();
const PYTHON = '/usr/bin/python3';
const TOKENIZER = fileURLToPath(new URL('../test/fixtures/tokenizers/spam-unigram', import.meta.url));
const KD = { temperature: 4, alpha: 0.9, learningRate: 1e-3 };
const log = (line) => console.error(`[text-bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const run = promisify(execFile);

/** A float32 .npy, as numpy.save writes it. */
function npy(values, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  header += `${' '.repeat(64 - ((10 + header.length + 1) % 64))}\n`;
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

const tokenizerFiles = readTokenizerFiles(TOKENIZER);
const tokenizer = new TextTokenizer(tokenizerFiles, { maxLength });
const settings = (workers) => ({
  tokenizer,
  files: tokenizerFiles,
  fields: { textField: 'text', labelField: 'label' },
  maxLength,
  workers,
});

async function tokenise(file, workers) {
  const started = performance.now();
  const table = await tokeniseFile(file, settings(workers));
  return { table, samplesPerSec: table.rows / ((performance.now() - started) / 1000) };
}

/** One epoch of distillation of `spec` on the rows, from the logits in `logits`: the student phase's samples/s. */
async function tfjsRate(spec, data, logits, workers) {
  const shape = { inputShape: [maxLength], numClasses: 2, vocabSize: tokenizer.vocabSize };
  const { report } = await distill({
    teacherLogits: logits,
    student: buildModel(spec, { ...shape, seed: 2 }),
    train: data,
    test: { ...data, x: data.x.subarray(0, 256 * maxLength), y: data.y.subarray(0, 256), shape: [256, maxLength] },
    epochs,
    batchSize: batch,
    optimizer: { name: 'adam', learningRate: KD.learningRate },
    temperature: KD.temperature,
    alpha: KD.alpha,
    workers,
    allowWeakTeacher: true, // random logits: the speed is on trial
  });
  return report.phases.find((p) => p.phase === 'student').samplesPerSec;
}

async function torchRate(spec, idsFile, threads, scratch) {
  const out = join(scratch, `torch-${spec}-${threads}.json`);
  await run(PYTHON, [
    fileURLToPath(new URL('./pytorch_text.py', import.meta.url)),
    ...['--ids', idsFile, '--vocab', String(tokenizer.vocabSize), '--model', spec, '--threads', String(threads)],
    ...['--batch', String(batch), '--temperature', String(KD.temperature), '--alpha', String(KD.alpha), '--lr', String(KD.learningRate)],
    ...['--repeats', String(epochs), '--out', out],
  ]);
  return JSON.parse(await readFile(out, 'utf8'));
}

const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-text-bench-'));
try {
  const loadAverage = loadavg();
  const corpus = writeSpamCorpus(scratch);
  const { table } = await tokenise(corpus.train, 1); // warm-up: the page cache, the tokenizer compiled
  // The rows as a text run holds them: integer ids, with how they were made (which lets x be integers).
  const tokens = tokenRowsInfo(tokenizer, maxLength, false);
  const data = { x: table.ids, y: Int32Array.from(table.labelCodes), shape: [table.rows, maxLength], numClasses: 2, tokens };
  const logits = join(scratch, 'logits.npy');
  let state = 7;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 8 - 4;
  await writeFile(logits, npy(Float32Array.from({ length: table.rows * 2 }, random), [table.rows, 2]));
  const idsFile = join(scratch, 'ids.npy');
  await writeFile(idsFile, npy(Float32Array.from(table.ids), [table.rows, maxLength]));
  const workerCounts = [...new Set([1, cores])];
  const threadCounts = [...Array.from({ length: cores }, (_, i) => i + 1), 0];
  const measured = [];
  for (let round = 0; round < rounds; round++) {
    for (const workers of workerCounts) {
      const { samplesPerSec } = await tokenise(corpus.train, workers);
      measured.push({ kind: 'tokenise', setting: `W=${workers}`, samplesPerSec });
      log(`round ${round + 1}: tokenise W=${workers}: ${fmt(samplesPerSec)} rows/s`);
    }
    for (const spec of students) {
      for (const workers of workerCounts) {
        const samplesPerSec = await tfjsRate(spec, data, logits, workers);
        measured.push({ kind: spec, setting: `tfjs-distill W=${workers}`, samplesPerSec });
        log(`round ${round + 1}: ${spec} tfjs-distill W=${workers}: ${fmt(samplesPerSec)} samples/s`);
      }
      for (const threads of threadCounts) {
        const result = await torchRate(spec, idsFile, threads, scratch);
        const setting = `PyTorch ${result.torch}, ${threads === 0 ? `default (${result.threads})` : threads} thread${result.threads === 1 ? '' : 's'}`;
        measured.push({ kind: spec, setting, samplesPerSec: result.samplesPerSec });
        log(`round ${round + 1}: ${spec} ${setting}: ${fmt(result.samplesPerSec)} samples/s`);
      }
    }
  }
  const rows = medianAcrossRounds(measured, (r) => `${r.kind} ${r.setting}`);
  const range = (r) => (r.rounds > 1 ? `${fmt(r.samplesPerSecRange[0])}–${fmt(r.samplesPerSecRange[1])}` : '-');
  const lines = [
    `${cores} CPUs (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}; load average at start ` +
      `${loadAverage.map((l) => l.toFixed(2)).join(' ')}. ${fmt(table.rows)} SpamAssassin e-mails (bench/spam-corpus.mjs), ` +
      `Unigram tokenizer (${fmt(tokenizer.vocabSize)} ids), max length ${maxLength}. ` +
      (rounds > 1
        ? `Median of ${rounds} rounds, each running every setting in turn; the range is the lowest and highest round.`
        : 'One round.'),
    '',
    '| tokenisation (tokeniseFile, reading included) | rows/s | range over rounds |',
    '| --- | ---: | ---: |',
    ...rows.filter((r) => r.kind === 'tokenise').map((r) => `| ${r.setting} | ${fmt(r.samplesPerSec)} | ${range(r)} |`),
    '',
    `Student training, ${epochs === 1 ? 'one epoch' : `${epochs} epochs (PyTorch: its median epoch)`} over every row, batch ${batch}, Adam (lr ${KD.learningRate}), KD loss (T ${KD.temperature}, ` +
      `alpha ${KD.alpha}); tfjs-distill's rate is the student phase's own time (pool start left out).`,
    '',
    '| student | setting | samples/s | range over rounds | vs best PyTorch |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const spec of students) {
    const own = rows.filter((r) => r.kind === spec);
    const best = Math.max(...own.filter((r) => r.setting.startsWith('PyTorch')).map((r) => r.samplesPerSec));
    for (const r of own)
      lines.push(`| ${spec} | ${r.setting} | ${fmt(r.samplesPerSec)} | ${range(r)} | ${(r.samplesPerSec / best).toFixed(2)}x |`);
  }
  lines.push(
    '',
    `\`node bench/text.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString()}`,
  );
  const markdown = `${lines.join('\n')}\n`;
  const out = args.out ?? fileURLToPath(new URL('./results/text.md', import.meta.url));
  await writeFile(`${out}.tmp`, markdown);
  await rename(`${out}.tmp`, out);
  console.log(markdown);
  console.log(`wrote ${out}`);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
