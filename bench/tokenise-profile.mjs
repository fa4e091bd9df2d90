// Where text:FILE's tokenisation time goes, on the bench corpus (bench/spam-corpus.mjs) with the Unigram
// fixture tokenizer: reading the records alone (the coordinator's share), the tokenizer alone on one
// thread, and tokeniseFile on W = 1 and W = 2 threads. Each figure is rows/s and CPU milliseconds a row
// summed over every thread of the process (process.cpuUsage), medians over rounds with their ranges: on a
// shared machine a rate that does not grow with W while the CPU a row stays flat means the process got no
// more CPU, not that the work did not split.
//   node bench/tokenise-profile.mjs [--rounds 3] [--max-length 128]
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { textRecords } from '../dist/data/text/text-records.js';
import { tokeniseFiles } from '../dist/data/text/tokenised-file.js';
import { readTokenizerFiles } from '../dist/data/text/tokenizer-files.js';
import { TextTokenizer } from '../dist/data/text/tokenizer.js';
import { writeSpamCorpus } from './spam-corpus.mjs';

const { values: args } = parseArgs({ options: { rounds: { type: 'string' }, 'max-length': { type: 'string' } } });
const rounds = Number(args.rounds ?? 3);
const maxLength = Number(args['max-length'] ?? 128);
const TOKENIZER = fileURLToPath(new URL('../test/fixtures/tokenizers/spam-unigram', import.meta.url));
const files = readTokenizerFiles(TOKENIZER);
const tokenizer = new TextTokenizer(files, { maxLength });
const fields = { textField: 'text', labelField: 'label' };

/** Rows/s and CPU ms a row of `work`, which returns its row count. */
async function measure(work) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const rows = await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { rate: rows / seconds, cpu: (used.user + used.system) / 1000 / rows };
}

const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-tokenise-'));
try {
  const load = loadavg();
  const { train } = writeSpamCorpus(scratch);
  const texts = [];
  for await (const records of textRecords(train, fields)) for (const record of records) texts.push(record.text);
  const ids = new Uint16Array(maxLength);
  const settings = (workers) => ({ tokenizer, files, fields, maxLength, workers });
  const stages = {
    'reading the records': async () => {
      let rows = 0;
      for await (const records of textRecords(train, fields)) rows += records.length;
      return rows;
    },
    'the tokenizer alone, 1 thread': async () => {
      for (const text of texts) tokenizer.encodeInto(text, undefined, ids, undefined, 0, maxLength);
      return texts.length;
    },
    'tokeniseFile W=1': async () => (await tokeniseFiles([train], settings(1)))[0].rows,
    'tokeniseFile W=2': async () => (await tokeniseFiles([train], settings(2)))[0].rows,
  };
  await stages['tokeniseFile W=1'](); // warm-up: the page cache, the tokenizer compiled
  const results = Object.fromEntries(Object.keys(stages).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) for (const [name, work] of Object.entries(stages)) results[name].push(await measure(work));
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const cell = (values, digits) =>
    `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
  console.log(
    `${texts.length} e-mails, max length ${maxLength}, ${rounds} rounds; load average at start ${load.map((l) => l.toFixed(2)).join(' ')}, ` +
      `at end ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
  );
  console.log('| stage | rows/s | CPU ms a row (all threads) |\n| --- | ---: | ---: |');
  for (const [name, runs] of Object.entries(results)) {
    console.log(
      `| ${name} | ${cell(
        runs.map((r) => r.rate),
        0,
      )} | ${cell(
        runs.map((r) => r.cpu),
        3,
      )} |`,
    );
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
