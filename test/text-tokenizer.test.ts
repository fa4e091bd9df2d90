import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRowsInto } from '../dist/data/text/token-batch.js';
import { allocateTokenTable, tokenIdType, tokenTableRowBytes } from '../dist/data/text/token-table.js';
import { loadTokenizer, readTokenizerFiles } from '../dist/data/text/tokenizer-files.js';
import { countedLengthRule } from '../dist/data/text/word-counts.js';
import { failure } from './helpers/failure.js';
import { spamAssassinTexts, TOKENIZER_DIRS, writeBertUncased } from './helpers/tokenizer-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'text-tokenizer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
mkdirSync(join(work, 'bert'));
const bert = writeBertUncased(join(work, 'bert'));
const bertJson = () => JSON.parse(readFileSync(join(bert, 'tokenizer.json'), 'utf8'));

/** Writes a tokenizer folder with the given tokenizer.json (and config) and returns its path. */
function folder(name: string, tokenizerJson: unknown, config?: unknown): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), typeof tokenizerJson === 'string' ? tokenizerJson : JSON.stringify(tokenizerJson));
  if (config !== undefined) writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  return dir;
}

describe('loading a tokenizer', () => {
  it('reads a tokenizer.json file, its folder, and the onnx/ folder of a Hugging Face export', () => {
    const exported = join(work, 'export');
    mkdirSync(join(exported, 'onnx'), { recursive: true });
    copyFileSync(join(bert, 'tokenizer.json'), join(exported, 'tokenizer.json'));
    copyFileSync(join(bert, 'tokenizer_config.json'), join(exported, 'tokenizer_config.json'));
    for (const path of [join(bert, 'tokenizer.json'), bert, exported, join(exported, 'onnx')]) {
      const tokenizer = loadTokenizer(path);
      expect([tokenizer.modelType, tokenizer.vocabSize, tokenizer.maxLength, tokenizer.maskId]).toEqual(['WordPiece', 30522, 512, 103]);
    }
    expect(readTokenizerFiles(join(exported, 'onnx')).source).toBe(join(exported, 'tokenizer.json'));
  });

  it('refuses missing, broken and unsupported files with one line naming the tokenizer', async () => {
    const messages = await Promise.all([
      failure((async () => loadTokenizer(join(work, 'nowhere')))()),
      failure((async () => loadTokenizer(mkdtempSync(join(work, 'empty-'))))()),
      failure((async () => loadTokenizer(folder('broken', '{"model": {"type": "BPE"')))()),
      failure((async () => loadTokenizer(folder('array', '[1, 2]')))()),
      failure((async () => loadTokenizer(folder('word-level', { ...bertJson(), model: { type: 'WordLevel', vocab: {} } })))()),
      failure((async () => loadTokenizer(folder('no-model', { version: '1.0' })))()),
      failure((async () => loadTokenizer(folder('odd-processor', { ...bertJson(), post_processor: { type: 'Mystery' } })))()),
    ]);
    expect(messages[0]).toMatch(/does not exist/);
    expect(messages[1]).toMatch(/no tokenizer\.json in/);
    expect(messages[2]).toMatch(/is not valid JSON/);
    expect(messages[3]).toMatch(/is not a JSON object/);
    expect(messages[4]).toMatch(/tokenizer model WordLevel is not supported; use a BPE, WordPiece or Unigram/);
    expect(messages[5]).toMatch(/has no model/);
    expect(messages[6]).toMatch(/post-processor Mystery is not supported/);
  });
});

describe('maximum length and special ids', () => {
  it('takes truncation.max_length, else model_max_length unless it is the "no limit" sentinel, else the option', async () => {
    const withTruncation = folder(
      'truncation',
      { ...bertJson(), truncation: { max_length: 128, strategy: 'LongestFirst', stride: 0 } },
      {
        model_max_length: 512,
      },
    );
    expect(loadTokenizer(withTruncation).maxLength).toBe(128);
    expect(loadTokenizer(withTruncation, { maxLength: 64 }).maxLength).toBe(64);
    const llama = loadTokenizer(TOKENIZER_DIRS.sentencePieceBpe); // model_max_length is int(1e30)
    expect(llama.maxLength).toBeUndefined();
    expect(await failure((async () => llama.encode('hello'))())).toMatch(/sets no maximum length .*; give maxLength/);
    expect(llama.encode('hello', undefined, { maxLength: 8 }).ids).toEqual([1, ...llama.contentIds('hello')]);
    expect(await failure((async () => loadTokenizer(bert, { maxLength: 4 }))())).toMatch(/maxLength must be an integer of at least 5/);
  });

  it('pads with the padding pad_id, else the pad token, and exposes the unknown and mask ids', () => {
    const padded = loadTokenizer(folder('padding', { ...bertJson(), padding: { pad_id: 7, pad_type_id: 1 } }, { model_max_length: 16 }));
    const row = padded.encode('hello', undefined, { padTo: 6 });
    expect(row.ids.slice(3)).toEqual([7, 7, 7]);
    expect(row.typeIds).toEqual([0, 0, 0, 1, 1, 1]);
    const tokenizer = loadTokenizer(bert);
    expect([tokenizer.padId, tokenizer.unknownId, tokenizer.maskId]).toEqual([0, 100, 103]);
    expect(loadTokenizer(TOKENIZER_DIRS.unigram).padId).toBe(0);
  });

  it('encodes a pair with [CLS] A [SEP] B [SEP], segment ids and a mask over the real tokens', () => {
    const tokenizer = loadTokenizer(bert);
    const [first, second] = [tokenizer.contentIds('Hello world'), tokenizer.contentIds('how are you?')];
    const row = tokenizer.encode('Hello world', 'how are you?', { padTo: 12 });
    expect([first.length, second.length]).toEqual([2, 4]);
    expect(row.ids).toEqual([101, ...first, 102, ...second, 102, 0, 0, 0]);
    expect(row.typeIds).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect(row.attentionMask).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect(row.length).toBe(9);
    expect(tokenizer.encode('', undefined, { padTo: 3 }).ids).toEqual([101, 102, 0]);
  });

  it('refuses to pad a row below its length', async () => {
    const tokenizer = loadTokenizer(bert);
    expect(await failure((async () => tokenizer.encode('hello there', undefined, { padTo: 2 }))())).toMatch(
      /padTo 2 is below the row's 4 tokens; pad to at least maxLength \(512\)/,
    );
  });
});

describe('the token counts Rust truncates pairs by', () => {
  it('run to the end of the word that reaches the limit, with words as each pre-tokenizer splits them', () => {
    const wordPiece = countedLengthRule(bertJson(), (text) => text.split(' '));
    expect(wordPiece(['straw', '##berries', '##s', 'are', 'red'], '', 2)).toBe(3);
    expect(wordPiece(['straw', '##berries', 'are', 'red'], '', 2)).toBe(2);
    const metaspace = countedLengthRule({ model: { type: 'Unigram' }, pre_tokenizer: { type: 'Metaspace', replacement: '▁' } }, () => []);
    expect(metaspace(['▁straw', 'berr', 'ies', '▁are'], '', 2)).toBe(3);
    const none = countedLengthRule({ model: { type: 'BPE' }, pre_tokenizer: null }, () => []);
    expect(none(['▁straw', 'berr', 'ies', '▁are'], '', 1)).toBe(4);
    const spelled = countedLengthRule({ model: { type: 'BPE' }, pre_tokenizer: { type: 'ByteLevel' } }, () => ['straw', 'berries', 'Ġare']);
    expect(spelled(['str', 'aw', 'berr', 'ies', 'Ġare'], '', 1)).toBe(2);
    expect(spelled(['str', 'aw', 'berr', 'ies', 'Ġare'], '', 3)).toBe(4);
    expect(spelled(['<unk>', 'Ġare'], '', 1)).toBe(2);
  });
});

describe('token tables', () => {
  it('uses the narrowest integer type that holds the vocabulary and says what a row costs', () => {
    expect([256, 257, 30522, 65536, 65537, 250002].map(tokenIdType)).toEqual(['uint8', 'uint16', 'uint16', 'uint16', 'int32', 'int32']);
    expect(tokenTableRowBytes(128, 'uint16')).toBe(128 * 2 + 4);
    expect(tokenTableRowBytes(128, 'int32', { pairs: true, attentionMask: true })).toBe(128 * 6 + 4);
    const table = allocateTokenTable(3, 16, 30522, { pairs: true });
    expect(table.ids).toBeInstanceOf(Uint16Array);
    expect(table.ids.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([table.ids.length, table.lengths.length, table.typeIds?.length]).toEqual([48, 3, 48]);
  });

  it('refuses a table too narrow for the vocabulary, and pairs without segment ids', async () => {
    const tokenizer = loadTokenizer(bert);
    const narrow = { maxLength: 8, ids: new Uint8Array(8), lengths: new Int32Array(1) };
    expect(await failure((async () => encodeRowsInto(tokenizer, { texts: ['hi'] }, narrow))())).toMatch(
      /Uint8Array cannot hold ids up to 30521/,
    );
    const plain = allocateTokenTable(1, 8, tokenizer.vocabSize);
    expect(await failure((async () => encodeRowsInto(tokenizer, { texts: ['hi'], pairs: ['there'] }, plain))())).toMatch(
      /need a token table with typeIds/,
    );
    expect(await failure((async () => encodeRowsInto(tokenizer, { texts: ['a', 'b'] }, plain))())).toMatch(
      /do not fit a token table of 1 rows/,
    );
  });

  it('is filled by worker threads straight into shared memory, as on the main thread', async () => {
    const texts = spamAssassinTexts(40);
    const maxLength = 32;
    const shared = allocateTokenTable(texts.length, maxLength, 30522);
    const worker = (firstRow: number, rows: string[]) =>
      new Promise<void>((resolve, reject) => {
        const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/tokenizers/encode-worker.mjs');
        const thread = new Worker(script, { workerData: { path: bert, texts: rows, firstRow, table: shared } });
        thread.once('error', reject);
        thread.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
      });
    await Promise.all([worker(0, texts.slice(0, 20)), worker(20, texts.slice(20))]);
    const local = allocateTokenTable(texts.length, maxLength, 30522, { shared: false });
    encodeRowsInto(loadTokenizer(bert), { texts }, local);
    expect(Array.from(shared.ids)).toEqual(Array.from(local.ids));
    expect(Array.from(shared.lengths)).toEqual(Array.from(local.lengths));
    expect(Math.min(...shared.lengths)).toBeGreaterThan(2);
  });
});
