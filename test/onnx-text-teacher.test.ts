import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataSource } from '../dist/data/data-source.js';
import type { Dataset } from '../dist/data/dataset.js';
import { LogitTable } from '../dist/data/logit-table.js';
import { readSoftLabels } from '../dist/data/soft-label-store.js';
import { loadTokenizer } from '../dist/data/text/tokenizer-files.js';
import { DistillError } from '../dist/errors.js';
import { bucketInputs, textBuckets } from '../dist/infer/onnx-text-rows.js';
import { predictorFor } from '../dist/infer/predictor.js';
import { label } from '../dist/labelling/label.js';
import { encodeModel } from '../dist/models/onnx-proto.js';
import { openOnnxTeacher } from '../dist/models/onnx-teacher.js';
import { writeBertUncased } from './helpers/tokenizer-fixtures.js';

/** A BERT-style classifier trained and exported by examples/text-teacher/ (Hugging Face layout, WordPiece tokenizer). */
const TEACHER = new URL('./fixtures/text-teacher', import.meta.url).pathname;
/** 400 real SpamAssassin e-mails: the teacher's test set in PyTorch. */
const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;

interface PytorchTest {
  testAccuracy: number;
  predictions: number[];
  logits: number[][];
}

const spamRows = (options: { tokenizer?: string; maxLength?: number; pair?: boolean; source?: string } = {}) =>
  loadDataSource({
    source: `text:${options.source ?? SPAM}`,
    testSource: `text:${options.source ?? SPAM}`,
    tokenizer: options.tokenizer ?? TEACHER,
    maxLength: options.maxLength ?? 128,
    classes: ['spam', 'ham'],
    textPairField: options.pair ? 'pair' : undefined,
    testFraction: 0.2,
    seed: 1,
    workers: 1,
  });

describe('ONNX text classifier teachers', () => {
  let dir: string;
  let pytorch: PytorchTest;
  let rows: Dataset;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'onnx-text-'));
    pytorch = JSON.parse(await readFile(join(TEACHER, 'pytorch-test.json'), 'utf8'));
    rows = (await spamRows()).test;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('labels as PyTorch computed: the same test accuracy, predictions and logits from the Hugging Face export folder', async () => {
    const store = join(dir, 'labels.bin');
    const result = await label({ teacher: TEACHER, train: rows, softLabels: store, workers: 2 });
    expect(result.teacherRuntime).toBe('onnxruntime');
    const table = LogitTable.create(rows.shape[0], 2);
    expect((await readSoftLabels(store, table, result.key, { kind: 'float32' })).ok).toBe(true);
    const predictions = table.argmax();
    let hits = 0;
    for (let row = 0; row < rows.shape[0]; row++) {
      if (predictions[row] === rows.y[row]) hits++;
      for (let c = 0; c < 2; c++) expect(table.values[row * 2 + c]).toBeCloseTo(pytorch.logits[row][c], 3);
    }
    expect(Array.from(predictions)).toEqual(pytorch.predictions);
    expect(Math.abs(hits / rows.shape[0] - pytorch.testAccuracy)).toBeLessThanOrEqual(0.005);
    // One worker labels every row in the same bucket as two do: the same bits.
    const alone = await label({ teacher: TEACHER, train: rows, softLabels: join(dir, 'alone.bin'), workers: 1 });
    const again = LogitTable.create(rows.shape[0], 2);
    expect((await readSoftLabels(join(dir, 'alone.bin'), again, alone.key, { kind: 'float32' })).ok).toBe(true);
    expect(again.values).toEqual(table.values);
  });

  it('gives the same logits with rows bucketed by length as padded to the row width, in row order', async () => {
    const open = (bucketRows: number | null) =>
      openOnnxTeacher(join(TEACHER, 'model.onnx'), {
        featureShape: [128],
        numClasses: 2,
        text: { rows: rows.tokens!, features: rows.x as Float32Array, bucketRows },
      });
    const batch = rows.x.subarray(0, 256 * 128) as Float32Array;
    const logitsOf = async (bucketRows: number | null) => (await predictorFor((await open(bucketRows)).spec)).logits(batch, 256);
    const padded = await logitsOf(null);
    for (const bucketRows of [32, 7]) {
      const bucketed = await logitsOf(bucketRows);
      for (let i = 0; i < padded.length; i++) expect(Math.abs(bucketed[i] - padded[i])).toBeLessThan(1e-4);
    }
    // The buckets are what make it cheaper: the real texts vary in length, and the padded cells shrink.
    const { buckets } = textBuckets(batch, 256, (await open(32)).spec.text!);
    const cells = buckets.reduce((sum, bucket) => sum + bucket.rows.length * bucket.width, 0);
    expect(cells).toBeLessThan(0.95 * 256 * 128);
    expect(buckets.every((bucket, i) => i === 0 || bucket.width >= buckets[i - 1].width)).toBe(true);
  });

  it('gives a RoBERTa-style teacher its own pad id back (the rows swap it with 0), in the integer type it declares', () => {
    // <s> 0, <pad> 1, </s> 2: the rows hold <pad> as 0 and <s> as 1.
    const rows = {
      tokenizer: 'roberta',
      maxLength: 6,
      vocabSize: 50,
      padId: 1,
      padTypeId: 0,
      template: [
        { kind: 'special' as const, ids: [0], typeId: 0 },
        { kind: 'sequence' as const, sequence: 'A' as const, typeId: 0 },
        { kind: 'special' as const, ids: [2], typeId: 0 },
      ],
      pairs: false,
    };
    const feed = {
      ids: { name: 'input_ids', type: 'int32' as const },
      mask: { name: 'attention_mask', type: 'int64' as const },
      segments: { name: 'token_type_ids', type: 'int32' as const },
      rows,
      bucketRows: 2,
    };
    const x = Float32Array.from([1, 7, 8, 9, 2, 0, 1, 5, 2, 0, 0, 0, 1, 6, 7, 2, 0, 0]);
    const { buckets, lengths } = textBuckets(x, 3, feed);
    expect(Array.from(lengths)).toEqual([5, 3, 4]);
    expect(buckets.map((bucket) => [Array.from(bucket.rows), bucket.width])).toEqual([
      [[1, 2], 4],
      [[0], 5],
    ]);
    const first = bucketInputs(x, buckets[0], lengths, feed);
    expect(first.input_ids.data).toBeInstanceOf(Int32Array);
    expect(Array.from(first.input_ids.data)).toEqual([0, 5, 2, 1, 0, 6, 7, 2]);
    expect(Array.from(first.attention_mask.data)).toEqual([1n, 1n, 1n, 0n, 1n, 1n, 1n, 1n]);
    expect(Array.from(first.token_type_ids.data)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(bucketInputs(x, buckets[1], lengths, feed).input_ids.data)).toEqual([0, 7, 8, 9, 2]);
  });

  it("fills token_type_ids with a pair's segment ids, as the Rust tokenizers library does", async () => {
    const lines = (await readFile(SPAM, 'utf8')).trim().split('\n').slice(0, 40);
    const pairs = lines.map((line, i) => {
      const { text, label: name } = JSON.parse(line);
      return { text: text.slice(0, 90), pair: text.slice(90 + (i % 7) * 20), label: name };
    });
    const file = join(dir, 'pairs.jsonl');
    await writeFile(file, pairs.map((row) => `${JSON.stringify(row)}\n`).join(''));
    const data = (await spamRows({ source: file, pair: true, maxLength: 48 })).test;
    const spec = (
      await openOnnxTeacher(join(TEACHER, 'model.onnx'), {
        featureShape: [48],
        numClasses: 2,
        text: { rows: data.tokens!, features: data.x as Float32Array },
      })
    ).spec;
    const x = data.x as Float32Array;
    const { buckets, lengths } = textBuckets(x, 40, { ...spec.text!, bucketRows: null });
    const inputs = bucketInputs(x, buckets[0], lengths, spec.text!);
    const { Tokenizer } = createRequire(import.meta.url)('tokenizers');
    const rust = Tokenizer.fromFile(join(TEACHER, 'tokenizer.json'));
    rust.setTruncation(48);
    rust.setPadding({ maxLength: 48 });
    for (let row = 0; row < 40; row++) {
      const encoding = await rust.encode(pairs[row].text, pairs[row].pair);
      const slice = (name: string) => Array.from(inputs[name].data.subarray(row * 48, (row + 1) * 48), Number);
      expect(slice('input_ids')).toEqual(encoding.getIds());
      expect(slice('attention_mask')).toEqual(encoding.getAttentionMask());
      expect(slice('token_type_ids')).toEqual(encoding.getTypeIds());
      expect(encoding.getTypeIds()).toContain(1);
    }
    expect(inputs.input_ids.data).toBeInstanceOf(BigInt64Array);
  });

  it('refuses token ids beyond the embedding, rows beyond the positions, an input it cannot fill and a wrong class count', async () => {
    const openWith = (model: string, data: Dataset, numClasses = 2) =>
      openOnnxTeacher(model, { featureShape: [data.shape[1]], numClasses, text: { rows: data.tokens!, features: data.x as Float32Array } });
    const model = join(TEACHER, 'model.onnx');
    // Another tokenizer's ids: bert-base-uncased's vocabulary is larger than the teacher's embedding.
    const bert = writeBertUncased(await mkdtemp(join(dir, 'bert-')));
    const other = (await spamRows({ tokenizer: bert, maxLength: 64 })).test;
    expect(loadTokenizer(bert).vocabSize).toBe(30522);
    await expect(openWith(model, other)).rejects.toThrow(
      /^row \d+ holds token id \d+, beyond the 4323 ids of the ONNX teacher .*model\.onnx's embedding \(.*bert-.*tokenizer\.json has 30522\); give tokenizer the teacher's own tokenizer\.json$/,
    );
    // Rows wider than the graph's position embedding (the .onnx file alone: no config.json read).
    const wide = (await spamRows({ maxLength: 200 })).test;
    const error = await openWith(model, wide).catch((e) => e);
    expect(error).toBeInstanceOf(DistillError);
    expect(error.message).toMatch(
      /^maxLength 200 is beyond the 128 positions of the ONNX teacher .*\(its position embedding\); give maxLength 128 or less$/,
    );
    expect(error.options).toEqual(['maxLength']);
    // The folder's config.json says the same, through label().
    await expect(label({ teacher: TEACHER, train: wide, softLabels: join(dir, 'wide.bin'), workers: 1 })).rejects.toThrow(
      /maxLength 200 is beyond the 128 positions .*\(max_position_embeddings in .*config\.json\)/,
    );
    await expect(openWith(model, rows, 3)).rejects.toThrow(
      /output 'logits' has shape \[batch_size,2\], but the data has 3 classes; give a teacher whose output is \[batch, 3\]/,
    );
    const image = join(dir, 'image.onnx');
    const graph = {
      name: 'image',
      nodes: [{ opType: 'Identity', inputs: ['pixel_values'], outputs: ['logits'] }],
      initializers: [],
      input: { name: 'pixel_values', shape: [null, 128] },
      output: { name: 'logits', shape: [null, 128] },
    };
    await writeFile(image, encodeModel(graph, 'test'));
    await expect(openWith(image, rows)).rejects.toThrow(/has an input 'pixel_values' that text rows cannot fill/);
  });

  it('reads the Hugging Face layout with the graph in onnx/ and the tokenizer and config.json above it', async () => {
    const folder = await mkdtemp(join(dir, 'optimum-'));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(folder, 'onnx'));
    await copyFile(join(TEACHER, 'model.onnx'), join(folder, 'onnx', 'model.onnx'));
    for (const name of ['tokenizer.json', 'tokenizer_config.json', 'config.json']) await copyFile(join(TEACHER, name), join(folder, name));
    const few = { ...rows, x: rows.x.subarray(0, 64 * 128), y: rows.y.subarray(0, 64), shape: [64, 128] };
    const result = await label({ teacher: folder, train: few, softLabels: join(dir, 'onnx-folder.bin'), workers: 1 });
    const table = LogitTable.create(64, 2);
    expect((await readSoftLabels(join(dir, 'onnx-folder.bin'), table, result.key, { kind: 'float32' })).ok).toBe(true);
    expect(Array.from(table.argmax())).toEqual(pytorch.predictions.slice(0, 64));
  });
});
