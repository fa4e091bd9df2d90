import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataSource } from '../dist/data/data-source.js';
import { datasetContract } from '../dist/data/source-contracts.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { buildModel, type Dataset, distill, splitDataset } from '../dist/index.js';
import { modelToData } from '../dist/models/model-data.js';
import { datasetDigest } from '../dist/teachers/fingerprint.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'text-token-types-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;
const MAX_LENGTH = 32;

/** The Unigram fixture tokenizer with its vocabulary cut to `pieces` pieces, or grown with unused ones to that many. */
function unigramOfSize(pieces: number): string {
  const json = JSON.parse(readFileSync(join(TOKENIZER_DIRS.unigram, 'tokenizer.json'), 'utf8'));
  const vocab: [string, number][] = json.model.vocab;
  json.model.vocab =
    pieces <= vocab.length
      ? vocab.slice(0, pieces)
      : [...vocab, ...Array.from({ length: pieces - vocab.length }, (_, i) => [`⟨unused${i}⟩`, -99])];
  const dir = join(work, `unigram-${pieces}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'tokenizer_config.json'), readFileSync(join(TOKENIZER_DIRS.unigram, 'tokenizer_config.json')));
  return dir;
}

const spam = (tokenizer: string, extra: Record<string, unknown> = {}) =>
  loadDataSource({ source: `text:${SPAM}`, tokenizer, maxLength: MAX_LENGTH, testFraction: 0.2, seed: 1, workers: 2, ...extra });

/** A soft-label store's header (less its labelling time) and its body with the body's hash: what labelling wrote. */
function storeContent(path: string): { header: unknown; body: Buffer } {
  const bytes = readFileSync(path);
  const headerBytes = bytes.readUInt32LE(8);
  const { labelSeconds: _seconds, ...header } = JSON.parse(bytes.subarray(12, 12 + headerBytes).toString());
  return { header, body: bytes.subarray(12 + headerBytes) };
}

/** The same rows with the token ids as float32 in shared memory of their own, as text data was loaded before. */
function asFloat32(data: Dataset): Dataset {
  const x = new Float32Array(new SharedArrayBuffer(data.x.length * 4));
  x.set(data.x);
  return { ...data, x };
}

describe('token ids in the narrowest integer type', () => {
  it('a 4,000-id vocabulary gives uint16 rows, shared with the workers as they are, read as float32 ids', async () => {
    const splits = await spam(TOKENIZER_DIRS.unigram, { augment: { mask: 0.2, ngram: 0.3, copies: 1 } });
    for (const split of [splits.train, splits.test]) {
      expect(split.x).toBeInstanceOf(Uint16Array);
      expect(split.x.buffer).toBeInstanceOf(SharedArrayBuffer);
    }
    const shared = SharedDataset.fromDataset(splits.train, 'train');
    expect(shared.features).toBeInstanceOf(Uint16Array);
    expect(shared.features.buffer).toBe(splits.train.x.buffer);
    expect(shared.handle.featureType).toBe('uint16');
    const rows = Int32Array.from([5, 0, shared.rows - 1]);
    const gathered = shared.gatherFeatures(rows, 0, 3, new Float32Array(3 * MAX_LENGTH));
    const expected = [...rows].flatMap((row) => [...splits.train.x.subarray(row * MAX_LENGTH, (row + 1) * MAX_LENGTH)]);
    expect([...gathered]).toEqual(expected);
    expect(Math.max(...expected)).toBeGreaterThan(255);
    // Attached in another thread's way: the type travels in the handle.
    expect(SharedDataset.attach(shared.handle).features).toBeInstanceOf(Uint16Array);
  });

  it('uint8 for at most 256 ids (never scaled as pixels) and int32 beyond 65,536', async () => {
    const small = await spam(unigramOfSize(200));
    expect(small.vocabSize).toBe(200);
    expect(small.train.x).toBeInstanceOf(Uint8Array);
    const shared = SharedDataset.fromDataset(small.train, 'train');
    expect(shared.features).toBeInstanceOf(Uint8Array);
    expect([...shared.features.subarray(0, 64)]).toEqual([...small.train.x.subarray(0, 64)]);
    expect(datasetContract(small.train).kind).toBe('vector');
    // A split of the rows keeps them token ids.
    const half = splitDataset(small.train, 0.5, 1).train;
    expect(half.tokens).toBe(small.train.tokens);
    expect(SharedDataset.fromDataset(half, 'train').features).toBeInstanceOf(Uint8Array);
    const large = await spam(unigramOfSize(70_000));
    expect(large.train.x).toBeInstanceOf(Int32Array);
    expect(SharedDataset.fromDataset(large.train, 'train').features).toBeInstanceOf(Int32Array);
    // The extra pieces are never picked, so the ids are the fixture's own.
    expect([...large.train.x]).toEqual([...(await spam(TOKENIZER_DIRS.unigram)).train.x]);
  });

  it('digests hash the same logical ids as float32 rows did, so a store labelled before is found', async () => {
    const { train, test } = await spam(TOKENIZER_DIRS.unigram);
    expect(datasetDigest(train)).toBe(datasetDigest(asFloat32(train)));
    expect(datasetDigest(test)).toBe(datasetDigest(asFloat32(test)));
    const changed = asFloat32(train);
    changed.x[3] += 1;
    expect(datasetDigest(changed)).not.toBe(datasetDigest(train));
  });

  it('labelling, training and evaluation give the bits float32 rows give: the same weights, store and metrics', async () => {
    const { train, test, vocabSize } = await spam(TOKENIZER_DIRS.unigram, { augment: { mask: 0.1, copies: 1 } });
    const run = async (rows: (data: Dataset) => Dataset, store: string) => {
      const shape = { inputShape: [MAX_LENGTH], numClasses: 2, vocabSize };
      const result = await distill({
        teacher: buildModel('bag:8', { ...shape, seed: 1 }),
        student: buildModel('bag:8', { ...shape, seed: 2 }),
        train: rows(train),
        test: rows(test),
        teacherEpochs: 1,
        epochs: 1,
        labeled: 100,
        batchSize: 32,
        workers: 2,
        seed: 3,
        softLabels: join(work, store),
        allowWeakTeacher: true,
      });
      // Latencies are timings and model.json's size holds the layer names this process numbered; every
      // other figure of the test evaluation comes from the logits.
      const { latencyMsBatch1: _one, latencyMsBatch256: _many, bytes: _bytes, ...student } = result.report.student;
      return { weights: new Uint8Array((await modelToData(result.student)).weights), store: storeContent(join(work, store)), student };
    };
    const integer = await run((data) => data, 'uint16.store');
    const float = await run(asFloat32, 'float32.store');
    expect(Buffer.compare(Buffer.from(integer.weights), Buffer.from(float.weights))).toBe(0);
    expect(integer.store.header).toEqual(float.store.header);
    expect(Buffer.compare(integer.store.body, float.store.body)).toBe(0);
    expect(integer.student).toEqual(float.student);
  });
});
