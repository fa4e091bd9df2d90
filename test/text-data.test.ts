import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataSource } from '../dist/data/data-source.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { loadTokenizer } from '../dist/data/text/tokenizer-files.js';
import { failure } from './helpers/failure.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'text-data-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const UNIGRAM = TOKENIZER_DIRS.unigram;
const MAX_LENGTH = 16;

/** Writes `content` to a file of the work folder and returns its path. */
function file(name: string, content: string | Uint8Array): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

const jsonl = (rows: unknown[]) => rows.map((row) => (typeof row === 'string' ? row : JSON.stringify(row))).join('\n');

/** Loads `text:FILE` with the Unigram fixture tokenizer; `extra` sets the other options. */
const load = (path: string, extra: Record<string, unknown> = {}) =>
  loadDataSource({ source: `text:${path}`, tokenizer: UNIGRAM, maxLength: MAX_LENGTH, testFraction: 0.5, seed: 1, ...extra });

/** A row of ids as the tokenizer encodes it, padded to MAX_LENGTH (pad id 0 here). */
const encoded = (text: string, pair?: string) =>
  loadTokenizer(UNIGRAM).encode(text, pair, { maxLength: MAX_LENGTH, padTo: MAX_LENGTH }).ids;

/** Every row of a split as ids. */
const rowsOf = (x: Float32Array | Uint8Array | Uint16Array | Int32Array) =>
  Array.from({ length: x.length / MAX_LENGTH }, (_, r) => Array.from(x.subarray(r * MAX_LENGTH, (r + 1) * MAX_LENGTH)));

const TEXTS = ['Free money, click here now!', 'Meeting moved to Tuesday at noon.', 'You have WON a prize', 'Lunch tomorrow?', ''];

describe('data text:FILE', () => {
  it('JSONL: token ids as the tokenizer encodes them, the sorted class names with a notice, null/missing/"" unlabeled', async () => {
    const path = file(
      'rows.jsonl',
      jsonl([
        { text: TEXTS[0], label: 'spam' },
        { text: TEXTS[1], label: 'ham' },
        '',
        { text: TEXTS[2], label: null },
        { text: TEXTS[3] },
        { text: TEXTS[4], label: '' },
      ]),
    );
    const test = file(
      'test.jsonl',
      jsonl([
        { text: TEXTS[2], label: 'spam' },
        { text: TEXTS[3], label: 'ham' },
      ]),
    );
    const splits = await load(path, { testSource: `text:${test}` });
    expect(splits.classes).toEqual(['ham', 'spam']);
    expect(splits.notices).toEqual([
      'class order from the sorted labels: ham, spam (classes sets another)',
      `${path}: 1 of 5 texts are empty (kept, as their special tokens alone)`,
    ]);
    expect(splits.vocabSize).toBe(4000);
    expect(splits.train.shape).toEqual([5, MAX_LENGTH]);
    expect(splits.train.x).toBeInstanceOf(Uint16Array);
    expect(rowsOf(splits.train.x)).toEqual(TEXTS.map((text) => encoded(text)));
    expect(Array.from(splits.train.y)).toEqual([1, 0, -1, -1, -1]);
    expect(Array.from(splits.test.y)).toEqual([1, 0]);
    expect(splits.test.numClasses).toBe(2);
    // The rows are loaded into shared memory of their own, which the run shares with its workers as it is.
    expect(SharedDataset.fromDataset(splits.train, 'train').features.buffer).toBe(splits.train.x.buffer);
  });

  it('classes sets the order; labels may be class names or indices; the test share comes from the labelled rows', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => ({ text: TEXTS[i % 4], label: i % 3 === 0 ? 'spam' : i % 3 === 1 ? 1 : null }));
    const path = file('mixed.jsonl', jsonl(rows));
    const splits = await load(path, { classes: ['spam', 'ham'] });
    expect(splits.classes).toEqual(['spam', 'ham']);
    expect(splits.notices).toEqual([]);
    // 8 labelled rows, half held out; the 4 unlabeled ones all stay in training.
    expect(splits.test.shape[0]).toBe(4);
    expect(Array.from(splits.test.y).every((label) => label === 0 || label === 1)).toBe(true);
    expect(Array.from(splits.train.y).filter((label) => label === -1)).toHaveLength(4);
    // Indices alone, without classes: as many classes as the largest index needs, no names.
    const indexed = await load(file('indexed.jsonl', jsonl([0, 2, 1, 2].map((label, i) => ({ text: TEXTS[i], label })))));
    expect([indexed.classes, indexed.train.numClasses]).toEqual([undefined, 3]);
  });

  it('CSV with quoted fields (commas, doubled quotes, line breaks), TSV, other field names and sentence pairs', async () => {
    const csv = file(
      'rows.csv',
      ['id,body,topic,second', '1,"Hello, ""world""\nsecond line",a,x', '2,plain text,b,"y, z"', '', '3,,a,w'].join('\r\n'),
    );
    const fields = { textField: 'body', labelField: 'topic' };
    const fromCsv = await load(csv, { ...fields, testSource: `text:${csv}` });
    expect(rowsOf(fromCsv.train.x)).toEqual(['Hello, "world"\nsecond line', 'plain text', ''].map((text) => encoded(text)));
    expect([fromCsv.classes, Array.from(fromCsv.train.y)]).toEqual([
      ['a', 'b'],
      [0, 1, 0],
    ]);
    const pairs = await load(csv, { ...fields, textPairField: 'second', testSource: `text:${csv}` });
    expect(rowsOf(pairs.train.x)[1]).toEqual(encoded('plain text', 'y, z'));
    const tsv = file('rows.tsv', ['body\ttopic', 'first text\t1', 'second "quoted" text\t0'].join('\n'));
    const fromTsv = await load(tsv, { ...fields, testSource: `text:${tsv}` });
    expect(rowsOf(fromTsv.train.x)).toEqual(['first text', 'second "quoted" text'].map((text) => encoded(text)));
    expect([fromTsv.classes, Array.from(fromTsv.train.y)]).toEqual([undefined, [1, 0]]);
  });

  it('a tokenizer whose pad id is not 0 has its pad id and 0 swapped, so that padding is 0', async () => {
    const dir = join(work, 'pad-unk');
    mkdirSync(dir);
    copyFileSync(join(UNIGRAM, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<unk>', model_max_length: 512 }));
    const tokenizer = loadTokenizer(dir);
    expect(tokenizer.padId).toBe(2);
    const path = file(
      'pad.jsonl',
      jsonl([
        { text: TEXTS[0], label: 'a' },
        { text: TEXTS[1], label: 'b' },
      ]),
    );
    const splits = await load(path, { tokenizer: dir, testSource: `text:${path}` });
    const swap = (id: number) => (id === 2 ? 0 : id === 0 ? 2 : id);
    const expected = TEXTS.slice(0, 2).map((text) =>
      tokenizer.encode(text, undefined, { maxLength: MAX_LENGTH, padTo: MAX_LENGTH }).ids.map(swap),
    );
    expect(rowsOf(splits.train.x)).toEqual(expected);
    expect(rowsOf(splits.train.x)[0].at(-1)).toBe(0);
  });

  it('bad input: one-line errors naming the line, the field or the option, and the fix', async () => {
    const good = file(
      'good.jsonl',
      jsonl([
        { text: 'a', label: 'x' },
        { text: 'b', label: 'y' },
      ]),
    );
    expect(await failure(load(file('bad-json.jsonl', jsonl([{ text: 'a', label: 'x' }, '{"text": "b", "label": ', '{}']))))).toMatch(
      /bad-json\.jsonl line 2 is not valid JSON \(.*\); give one JSON object a line$/,
    );
    expect(await failure(load(file('array.jsonl', jsonl([{ text: 'a' }, [1, 2]]))))).toMatch(/array\.jsonl line 2 is not a JSON object/);
    expect(await failure(load(good, { textField: 'body' }))).toMatch(
      /good\.jsonl line 1 has no field 'body' \(its fields: text, label\); set textField to the field of the text$/,
    );
    expect(await failure(load(file('number.jsonl', jsonl([{ text: 3, label: 'x' }]))))).toMatch(
      /number\.jsonl line 1: field 'text' is a number, not a text/,
    );
    expect(await failure(load(file('cols.csv', 'body,label\nhello,x\n')))).toMatch(
      /cols\.csv has no column 'text' \(its columns: body, label\); set textField to the column of the text$/,
    );
    expect(await failure(load(file('short.csv', 'text,label\nhello,x\nworld\n')))).toMatch(
      /short\.csv line 3 has 1 fields but the header has 2/,
    );
    expect(await failure(load(file('open.csv', 'text,label\n"hello,x\nworld,y\n')))).toMatch(
      /open\.csv line 2: a quoted field is not closed/,
    );
    const latin1 = Buffer.concat([
      Buffer.from('{"text": "ok", "label": "x"}\n{"text": "caf'),
      Buffer.from([0xe9]),
      Buffer.from('", "label": "y"}\n'),
    ]);
    expect(await failure(load(file('latin1.jsonl', latin1)))).toMatch(/latin1\.jsonl line 2 is not valid UTF-8; convert the file to UTF-8/);
    expect(await failure(load(good, { tokenizer: undefined }))).toMatch(
      /^data text:.*good\.jsonl needs tokenizer: a tokenizer\.json file or the folder that holds it$/,
    );
    expect(await failure(load(good, { classes: ['x', 'z'] }))).toMatch(
      /good\.jsonl line 2: the label "y" is not one of classes \(x, z\); add it there or fix the line$/,
    );
    expect(
      await failure(
        load(good, {
          classes: ['x', 'y'],
          testSource: `text:${file('unlabelled.jsonl', jsonl([{ text: 'a', label: 'x' }, { text: 'b' }]))}`,
        }),
      ),
    ).toMatch(/unlabelled\.jsonl line 2 has no label, but every test row needs one/);
    expect(
      await failure(
        load(
          file(
            'mixed-kinds.jsonl',
            jsonl([
              { text: 'a', label: 'x' },
              { text: 'b', label: 1 },
            ]),
          ),
        ),
      ),
    ).toMatch(/line 2 labels a row with the index 1 and line 1 with the class name 'x'; give classes/);
    expect(
      await failure(
        load(
          file(
            'one-class.jsonl',
            jsonl([
              { text: 'a', label: 'x' },
              { text: 'b', label: 'x' },
            ]),
          ),
        ),
      ),
    ).toMatch(/every label is 'x', but a classifier needs two or more; give classes to name them all$/);
    expect(await failure(load(file('fraction.jsonl', jsonl([{ text: 'a', label: 0.5 }]))))).toMatch(
      /line 1: label 0\.5 is neither a class name nor a class index/,
    );
    expect(await failure(load(file('empty.jsonl', '\n\n')))).toMatch(/empty\.jsonl has no rows; give a file with at least one text$/);
    expect(await failure(load(file('rows.txt', 'hello')))).toMatch(/rows\.txt: give a \.jsonl .*, \.csv or \.tsv file/);
    expect(await failure(load(join(work, 'missing.jsonl')))).toMatch(/missing\.jsonl does not exist; check the path$/);
    expect(await failure(load(good, { testSource: 'csv:x.csv' }))).toBe('testData csv:x.csv: give text:FILE');
  });

  it('tokenising threads give the rows one thread gives, in file order', async () => {
    const rows = Array.from({ length: 2500 }, (_, i) => ({
      text: `${TEXTS[i % 5]} ${i}`,
      pair: TEXTS[(i + 1) % 5],
      label: i % 3 === 0 ? null : i % 2,
    }));
    const path = file('threads.jsonl', jsonl(rows));
    const test = file(
      'threads-test.jsonl',
      jsonl([
        { text: 'a', pair: 'b', label: 0 },
        { text: 'c', pair: 'd', label: 1 },
      ]),
    );
    const options = { testSource: `text:${test}`, textPairField: 'pair' };
    const [one, three] = await Promise.all([load(path, { ...options, workers: 1 }), load(path, { ...options, workers: 3 })]);
    expect(one.train.shape).toEqual([2500, MAX_LENGTH]);
    expect(rowsOf(one.train.x)[2400]).toEqual(encoded(rows[2400].text, rows[2400].pair));
    expect(Buffer.from(three.train.x.buffer).equals(Buffer.from(one.train.x.buffer))).toBe(true);
    expect(Array.from(three.train.y)).toEqual(Array.from(one.train.y));
    expect(Array.from(one.train.y.subarray(0, 4))).toEqual([-1, 1, 0, -1]);
  });

  it('reads a file longer than one stream chunk, with lines that cross chunks', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      text: `${TEXTS[i % 4]} number ${i} ${'é'.repeat(i % 7)} and a few more words, for a longer line`,
      label: i % 2,
    }));
    const path = file('long.jsonl', jsonl(rows));
    expect(readFileSync(path).length).toBeGreaterThan(3 * 65536);
    const splits = await load(path, { testSource: `text:${indexedPair()}` });
    expect(splits.train.shape).toEqual([3000, MAX_LENGTH]);
    expect(rowsOf(splits.train.x)[2999]).toEqual(encoded(rows[2999].text));
    expect(Array.from(splits.train.y.subarray(0, 4))).toEqual([0, 1, 0, 1]);
  });
});

/** A test file of two rows labelled by index. */
function indexedPair(): string {
  return file(
    'indices.jsonl',
    jsonl([
      { text: 'a', label: 0 },
      { text: 'b', label: 1 },
    ]),
  );
}
