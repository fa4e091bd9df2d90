import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataSourceOptions, loadDataSource } from '../dist/data/data-source.js';
import { type AugmentIds, MAX_NGRAM, augmentRow, withAugmentedCopies } from '../dist/data/text/augment-tokens.js';
import { buildModel, distill } from '../dist/index.js';
import { datasetDigest, softLabelKey } from '../dist/teachers/fingerprint.js';
import { runCli } from './helpers/cli.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;
const WEATHER = new URL('./fixtures/tabular/weather-train.csv', import.meta.url).pathname;

// A row [CLS] a b c d [SEP] and padding, as a token table holds it (padding 0); 1 and 2 are special, 3 the mask.
const IDS: AugmentIds = { maskId: 3, specialIds: new Set([1, 2]) };
const ROW = Float32Array.from([1, 10, 11, 12, 13, 2, 0, 0]);

function augmentOnce(augment: { mask?: number; ngram?: number }, row: number, copy: number, source = ROW): number[] {
  const target = new Float32Array(source.length);
  augmentRow(source, target, IDS, { ...augment, copies: 1 }, 7, row, copy);
  return [...target];
}

describe('text augmentation of token rows', () => {
  it('masks only real content tokens, with the mask id, at about the asked rate', () => {
    expect(augmentOnce({ mask: 1 }, 0, 0)).toEqual([1, 3, 3, 3, 3, 2, 0, 0]);
    expect(augmentOnce({ mask: 0.000001 }, 0, 0)).toEqual([...ROW]);
    // A long row: the share masked is near p, and special tokens and padding are never touched.
    const long = new Float32Array(2002);
    long[0] = 1;
    for (let i = 1; i <= 2000; i++) long[i] = 100 + (i % 50);
    long[2001] = 2;
    const masked = augmentOnce({ mask: 0.3 }, 5, 1, long);
    const share = masked.slice(1, 2001).filter((id) => id === 3).length / 2000;
    expect(share).toBeGreaterThan(0.27);
    expect(share).toBeLessThan(0.33);
    expect([masked[0], masked[2001]]).toEqual([1, 2]);
  });

  it('n-gram sampling keeps one run of 1 to 5 content tokens between the special tokens, left-packed', () => {
    const content = [10, 11, 12, 13, 14, 15, 16, 17];
    const source = Float32Array.from([1, ...content, 2, 0, 0]);
    const lengths = new Set<number>();
    const starts = new Set<number>();
    for (let copy = 0; copy < 400; copy++) {
      const out = augmentOnce({ ngram: 1 }, 3, copy, source);
      const kept = out.filter((id) => id >= 10);
      expect(out[0]).toBe(1);
      expect(out[kept.length + 1]).toBe(2);
      expect(out.slice(kept.length + 2).every((id) => id === 0)).toBe(true);
      const start = content.indexOf(kept[0]);
      expect(kept).toEqual(content.slice(start, start + kept.length)); // contiguous, in order
      lengths.add(kept.length);
      starts.add(start);
    }
    expect([...lengths].sort()).toEqual([1, 2, 3, 4, 5].slice(0, MAX_NGRAM));
    expect(starts.size).toBe(content.length); // every start position is drawn
    // A row shorter than the n-gram keeps all its content.
    expect(augmentOnce({ ngram: 1 }, 0, 0, Float32Array.from([1, 10, 2, 0]))).toEqual([1, 10, 2, 0]);
  });

  it('draws each copy from the seed, row and copy alone: any order or split of the rows gives the same copies', () => {
    const rows = 6;
    const width = ROW.length;
    const x = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++)
      x.set(
        ROW.map((id) => (id >= 10 ? id + r : id)),
        r * width,
      );
    const y = Int32Array.from([0, 1, -1, 1, 0, -1]);
    const augment = { mask: 0.3, ngram: 0.5, copies: 3 };
    const all = withAugmentedCopies(x, y, width, IDS, augment, 7);
    expect(all.x.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(all.y.length).toBe(rows * 4);
    expect([...all.y.subarray(0, rows)]).toEqual([...y]);
    expect(all.y.subarray(rows).every((label) => label === -1)).toBe(true); // copies join the transfer set only
    expect(all.x.subarray(0, rows * width)).toEqual(x);
    for (let copy = 2; copy >= 0; copy--) {
      for (let r = rows - 1; r >= 0; r--) {
        const at = ((1 + copy) * rows + r) * width;
        const alone = new Float32Array(width);
        augmentRow(x.subarray(r * width, (r + 1) * width), alone, IDS, augment, 7, r, copy);
        expect([...all.x.subarray(at, at + width)]).toEqual([...alone]);
      }
    }
    expect(withAugmentedCopies(x, y, width, IDS, augment, 8).x).not.toEqual(all.x); // another seed, other copies
  });
});

describe('text:FILE with augment', () => {
  let dir: string;
  const spam = (extra: Partial<DataSourceOptions> = {}) =>
    loadDataSource({
      source: `text:${SPAM}`,
      tokenizer: TOKENIZER_DIRS.unigram,
      maxLength: 64,
      testFraction: 0.2,
      seed: 1,
      workers: 1,
      ...extra,
    });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'text-augment-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('appends the copies of the training rows, unlabeled; the test rows stay as they were; any thread count', async () => {
    const plain = await spam();
    const augment = { mask: 0.1, ngram: 0.25, copies: 2 };
    const augmented = await spam({ augment });
    const rows = plain.train.shape[0];
    expect(augmented.train.shape).toEqual([rows * 3, 64]);
    expect(augmented.train.x.subarray(0, rows * 64)).toEqual(plain.train.x);
    expect(augmented.train.y.subarray(0, rows)).toEqual(plain.train.y);
    expect(augmented.train.y.subarray(rows).every((label) => label === -1)).toBe(true);
    expect(augmented.test.x).toEqual(plain.test.x);
    expect(datasetDigest(augmented.test)).toBe(datasetDigest(plain.test));
    expect(augmented.notices).toContain(
      `augment: 2 copies of each of the ${rows} training rows (mask 0.1, n-grams 0.25) joined the transfer set unlabeled: ${rows * 3} training rows in all`,
    );
    // The unigram tokenizer has no mask token: masking writes its unknown token.
    const copies = augmented.train.x.subarray(rows * 64);
    expect(copies.some((id, i) => id !== plain.train.x[i % (rows * 64)])).toBe(true);
    // Tokenised on two threads: the same rows, the same copies.
    const threaded = await spam({ augment, workers: 2 });
    expect(threaded.train.x).toEqual(augmented.train.x);
    expect(datasetDigest(threaded.train)).toBe(datasetDigest(augmented.train));
    // limit keeps the first rows, then copies those.
    const limited = await loadDataSource({ ...sourceOf(augment), limit: 100 });
    expect(limited.train.shape).toEqual([300, 64]);
    expect(limited.train.x.subarray(0, 100 * 64)).toEqual(plain.train.x.subarray(0, 100 * 64));
  });

  function sourceOf(augment: { mask?: number; ngram?: number; copies: number }): DataSourceOptions {
    return { source: `text:${SPAM}`, tokenizer: TOKENIZER_DIRS.unigram, maxLength: 64, testFraction: 0.2, seed: 1, workers: 1, augment };
  }

  it("the store's key covers the tokenizer's bytes, the maximum length and the augmentation", async () => {
    const teacher = 'teacher-digest';
    const base = await spam();
    // The same tokenizer with its config file rewritten (the same settings, other bytes): the same ids, another key.
    const copy = join(dir, 'tokenizer');
    await cp(TOKENIZER_DIRS.unigram, copy, { recursive: true });
    const configFile = join(copy, 'tokenizer_config.json');
    await writeFile(configFile, `${JSON.stringify(JSON.parse(await readFile(configFile, 'utf8')), null, 4)}\n`);
    const rewritten = await spam({ tokenizer: copy });
    expect(rewritten.train.x).toEqual(base.train.x);
    const keyOf = (splits: { train: Parameters<typeof datasetDigest>[0] }) => softLabelKey(teacher, splits.train);
    expect(keyOf(rewritten)).not.toBe(keyOf(base));
    expect(keyOf(await spam({ tokenizer: copy }))).toBe(keyOf(rewritten)); // and it is stable
    expect(keyOf(await spam({ maxLength: 48 }))).not.toBe(keyOf(base));
    const masked = await spam({ augment: { mask: 0.1, copies: 1 } });
    expect(keyOf(masked)).not.toBe(keyOf(base));
    expect(keyOf(await spam({ augment: { mask: 0.2, copies: 1 } }))).not.toBe(keyOf(masked));
    expect(keyOf(await spam({ augment: { mask: 0.1, copies: 2 } }))).not.toBe(keyOf(masked));
  });

  it('refuses augment on other data, bad probabilities and copies, and mask or ngram given to distill()', async () => {
    await expect(
      loadDataSource({ source: `csv:${WEATHER}`, testFraction: 0.2, seed: 1, augment: { mask: 0.1, copies: 1 } }),
    ).rejects.toThrow('augment mask and ngram make copies of text rows (data text:FILE), not of csv rows; for images use shift and flip');
    await expect(spam({ augment: { mask: 1.5, copies: 1 } })).rejects.toThrow(
      'augment mask and ngram are probabilities in [0, 1], got mask 1.5, ngram undefined',
    );
    await expect(spam({ augment: { copies: 2 } })).rejects.toThrow('augment for text needs mask:P and/or ngram:P above 0');
    await expect(spam({ augment: { ngram: 0.5, copies: 0 } })).rejects.toThrow('augmentCopies must be an integer >= 1, got 0');
    const { train, test, vocabSize } = await spam();
    const model = () => buildModel('bag:8', { inputShape: [64], numClasses: 2, vocabSize, seed: 1 });
    await expect(distill({ teacher: model(), student: model(), train, test, augment: { mask: 0.1 }, workers: 1 })).rejects.toThrow(
      'augment mask and ngram make copies of text rows as text:FILE is loaded: give them to loadDataSource (its augment), not to distill',
    );
  });

  it('the CLI: one line naming the flag and the fix for augmentation that does not fit the data or the command', () => {
    const text = ['--data', `text:${SPAM}`, '--tokenizer', TOKENIZER_DIRS.unigram, '--max-length', '32'];
    const cases: [string[], string][] = [
      [
        ['run', '--data', `csv:${WEATHER}`, '--augment', 'mask:0.1'],
        '--augment mask and ngram make copies of text rows (--data text:FILE); images take shift and flip',
      ],
      [['run', ...text, '--augment-copies', '2'], '--augment-copies applies to --augment mask:P or ngram:P (text)'],
      [
        ['run', ...text, '--augment', 'mask:2'],
        '--augment expects shift:N and/or flip (images), or mask:P and/or ngram:P with P in [0, 1]',
      ],
      [
        ['run', ...text, '--augment', 'shift:2'],
        'augment shifts and flips images, but the rows have shape [32]; drop --augment for feature rows',
      ],
      [
        ['label', ...text, '--teacher-arch', 'bag:8', '--soft-labels', join(dir, 'never.sl'), '--augment', 'flip,mask:0.1'],
        '--augment shift and flip move image rows in training, which label does not do; label takes mask:P and ngram:P (text)',
      ],
    ];
    for (const [args, message] of cases) {
      const result = runCli(args[0] === 'run' ? [...args, '--out', join(dir, 'never')] : args);
      expect(result.status, args.join(' ')).toBe(1);
      expect(result.stderr.trim().split('\n').at(-1), args.join(' ')).toContain(message);
    }
  });
});
