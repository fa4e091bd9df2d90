// `tfjs-distill predict` throughput: rows/s of a shipped student folder's predictions on every core, for
// an image student (the docs' mlp:32 digits student, float32 and uint8) and a text student (bag:16 on the
// SpamAssassin fixture, whose rows are tokenised as they are predicted), per backend setting that predict
// offers: cpu; wasm with its own kernels; wasm with the openblas kernels on every core (predict's default
// when the addon is built). Two figures per setting:
// - in process: Student.predict on all the rows at once (inputs prepared from pixels or texts, then the
//   model), after a warm-up call; the median of the rounds, with the range;
// - the command: `tfjs-distill predict FOLDER --data ...` timed whole as a user runs it (node start,
//   backend, loading the folder and the data, writing the JSONL), its rows divided by its wall time.
// Each setting runs in a process of its own (the backend is process-wide). Weights are as built (seeded):
// the speed does not depend on their values. Not part of `npm run bench` (about a minute). Needs a build:
//   npm run build && node bench/predict.mjs [--rounds 3] [--out FILE]
// Prints a markdown table and writes it to --out (default bench/results/predict.md).
import { execFile, execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { median } from './metrics.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const SPAM = join(ROOT, 'test/fixtures/text/spam.jsonl');
const TOKENIZER = join(ROOT, 'test/fixtures/tokenizers/spam-unigram');
const MAX_LENGTH = 64;
const SETTINGS = [
  { name: 'cpu', args: ['--backend', 'cpu'] },
  { name: 'wasm, wasm kernels', args: ['--backend', 'wasm', '--kernels', 'wasm'] },
  { name: 'wasm, openblas kernels (all cores)', args: ['--backend', 'wasm', '--kernels', 'openblas'] },
];

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string' },
    out: { type: 'string' },
    child: { type: 'string' },
    backend: { type: 'string' },
    kernels: { type: 'string' },
  },
});

/** Student folders as a run writes them: model.json (+ uint8/), classes.json, preprocessing.json, tokenizer files. */
async function writeFolders(dir) {
  const { buildModel } = await import('../dist/models/architectures.js');
  const { saveModel } = await import('../dist/models/model-files.js');
  const { saveQuantizedModel } = await import('../dist/models/quantize.js');
  const { loadTokenizer } = await import('../dist/data/text/tokenizer-files.js');
  const base = { format: 'tfjs-distill/preprocessing', version: 1 };
  const digits = join(dir, 'digits');
  const image = buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 1 });
  await saveModel(image, digits);
  await saveQuantizedModel(image, join(digits, 'uint8'), 'uint8');
  const imageContract = { ...base, kind: 'image', inputShape: [28, 28], height: 28, width: 28, channels: 1, layout: 'hwc', scale: 1 / 255 };
  await writeFile(join(digits, 'preprocessing.json'), JSON.stringify(imageContract));
  const tokenizer = loadTokenizer(TOKENIZER);
  const spam = join(dir, 'spam');
  await saveModel(buildModel('bag:16', { inputShape: [MAX_LENGTH], numClasses: 2, vocabSize: tokenizer.vocabSize, seed: 1 }), spam);
  const textContract = {
    ...base,
    kind: 'text',
    inputShape: [MAX_LENGTH],
    tokenizerFiles: ['tokenizer.json', 'tokenizer_config.json'],
    maxLength: MAX_LENGTH,
    tokenizerPadId: tokenizer.padId,
    truncationSide: 'right',
    textField: 'text',
  };
  await writeFile(join(spam, 'preprocessing.json'), JSON.stringify(textContract));
  await writeFile(join(spam, 'classes.json'), JSON.stringify(['ham', 'spam']));
  for (const file of textContract.tokenizerFiles) await copyFile(join(TOKENIZER, file), join(spam, file));
  return [
    { student: 'image mlp:32', folder: digits, model: undefined, data: 'mnist' },
    { student: 'image mlp:32, uint8', folder: digits, model: 'uint8', data: 'mnist' },
    { student: 'text bag:16, 64 tokens', folder: spam, model: undefined, data: `text:${SPAM}` },
  ];
}

/** In a child process: Student.predict's rows/s on every row of each case, per round. */
async function child(cases, rounds) {
  const { initBackend } = await import('../dist/kernels/backend.js');
  const { loadStudent } = await import('../dist/student/index.js');
  const { loadMnist } = await import('../dist/data/mnist.js');
  tf.env().set('PROD', true);
  await initBackend([args.backend], args.kernels ?? 'auto', availableParallelism());
  const digits = (await loadMnist()).test;
  const pixels = Uint8Array.from(digits.x, (v) => Math.round(v * 255));
  const images = Array.from({ length: digits.shape[0] }, (_, row) => pixels.subarray(row * 784, (row + 1) * 784));
  const texts = (await readFile(SPAM, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).text);
  const results = [];
  for (const { folder, model, data } of cases) {
    const student = await loadStudent(folder, { model });
    const inputs = data === 'mnist' ? images : texts;
    student.predict(inputs.slice(0, 64)); // warm-up: kernels compiled, buffers sized
    const perRound = [];
    for (let round = 0; round < rounds; round++) {
      const start = performance.now();
      student.predict(inputs);
      perRound.push(inputs.length / ((performance.now() - start) / 1000));
    }
    results.push({ rows: inputs.length, perRound, kernels: tf.getBackend() });
  }
  return results;
}

/** `tfjs-distill predict` timed whole: rows / wall seconds. */
async function commandRate(testCase, setting, out) {
  const model = testCase.model ? ['--model', testCase.model] : [];
  const start = performance.now();
  await run(process.execPath, [CLI, 'predict', testCase.folder, '--data', testCase.data, ...model, ...setting.args, '--out', out], {
    cwd: ROOT,
    maxBuffer: 64 * 2 ** 20,
  });
  const seconds = (performance.now() - start) / 1000;
  const rows = (await readFile(out, 'utf8')).trim().split('\n').length;
  return rows / seconds;
}

const format = (value) => Math.round(value).toLocaleString('en-US');

async function main() {
  const rounds = Number(args.rounds ?? 3);
  const dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-bench-predict-'));
  try {
    const cases = await writeFolders(dir);
    const startLoad = loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    const rows = [];
    for (const setting of SETTINGS) {
      const flags = ['--child', join(dir, 'cases.json'), '--rounds', String(rounds), ...setting.args];
      await writeFile(join(dir, 'cases.json'), JSON.stringify(cases));
      const inProcess = JSON.parse(
        execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...flags], { encoding: 'utf8', cwd: ROOT }),
      );
      for (const [i, testCase] of cases.entries()) {
        const rates = inProcess[i].perRound;
        const [middle, low, high] = [median(rates), Math.min(...rates), Math.max(...rates)];
        const whole = await commandRate(testCase, setting, join(dir, 'out.jsonl'));
        rows.push(
          `| ${testCase.student} | ${setting.name} | ${inProcess[i].rows} | ${format(middle)} | ${format(low)}–${format(high)} | ${format(whole)} |`,
        );
      }
    }
    const markdown = [
      `${cpus().length} CPUs (${cpus()[0].model.trim()}), node ${process.version}; load average at start ${startLoad}.`,
      '',
      'Student.predict on every row at once (prepared from pixels 0..255, or tokenised from the texts, then the model), ' +
        `median of ${rounds} rounds after a warm-up, and \`tfjs-distill predict\` timed whole as a user runs it (rows / wall time, ` +
        'node start, loading the folder and the data, writing the JSONL included). BLAS threads: every core.',
      '',
      '| student | backend | rows | predict rows/s | range over rounds | `tfjs-distill predict` rows/s (whole command) |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
      `\`node bench/predict.mjs\`, ${new Date().toISOString()}`,
      '',
    ].join('\n');
    console.log(markdown);
    const out = args.out ?? fileURLToPath(new URL('./results/predict.md', import.meta.url));
    await writeFile(`${out}.tmp`, markdown);
    await rename(`${out}.tmp`, out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (args.child) {
  const cases = JSON.parse(await readFile(args.child, 'utf8'));
  process.stdout.write(JSON.stringify(await child(cases, Number(args.rounds ?? 3))));
} else {
  await main();
}
