import type * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summaryTable } from '../dist/cli/summary-table.js';
import { LogitTable } from '../dist/data/logit-table.js';
import { applyEncoding, bytesPerRow, readSoftLabels, writeSoftLabels } from '../dist/data/soft-label-store.js';
import { DISTILLATION_DEFAULTS, type Dataset, buildModel, distill } from '../dist/index.js';
import { mulberry32 } from '../dist/random.js';
import { digitRows } from './helpers/digits.js';

let dir: string;
const T = 4;
const TOP3 = { kind: 'top-k', k: 3, temperature: T } as const;
const FULL = { kind: 'float32' } as const;

/** 10,000 rows (several 4,096-row chunks) of seeded logits. */
function randomTable(rows = 10_000, classes = 10) {
  const table = LogitTable.create(rows, classes);
  const random = mulberry32(9);
  for (let i = 0; i < table.values.length; i++) table.values[i] = random() * 20 - 10;
  return table;
}

const softmax = (row: Float32Array, t: number) => {
  const scaled = Array.from(row, (z) => z / t);
  const max = Math.max(...scaled);
  const exps = scaled.map((z) => Math.exp(z - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
};

describe('the soft-label store', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-store-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('full logits round-trip exactly, in chunks, and the size is header + 40 bytes a row + checksum', async () => {
    const table = randomTable();
    const file = join(dir, 'full.sl');
    const bytes = await writeSoftLabels(file, table, { key: 'k1', encoding: FULL, labelSeconds: 1.5 });
    expect(bytes).toBe((await readFile(file)).byteLength);
    expect(bytes - 10_000 * 40).toBeLessThan(400);
    const copy = LogitTable.create(10_000, 10);
    expect(await readSoftLabels(file, copy, 'k1', FULL)).toEqual({ ok: true, labelSeconds: 1.5, fileBytes: bytes });
    expect(copy.values).toEqual(table.values);
  });

  it('top-3 keeps the three largest probabilities at T (float16) and spreads the rest evenly', async () => {
    const table = randomTable();
    const file = join(dir, 'top3.sl');
    const bytes = await writeSoftLabels(file, table, { key: 'k1', encoding: TOP3, labelSeconds: 1 });
    expect(bytesPerRow(TOP3, 10)).toBe(12);
    expect(bytes - 10_000 * 12).toBeLessThan(400);
    const decoded = LogitTable.create(10_000, 10);
    expect((await readSoftLabels(file, decoded, 'k1', TOP3)).ok).toBe(true);
    for (const r of [0, 4095, 4096, 9999]) {
      const original = softmax(table.row(r), T);
      const got = softmax(decoded.row(r), T);
      const top = original
        .map((p, c) => [p, c])
        .sort((a, b) => b[0] - a[0])
        .slice(0, 3);
      for (const [p, c] of top) expect(Math.abs(got[c] - p)).toBeLessThanOrEqual(Math.max(1e-3 * p, 1e-7));
      const rest = (1 - top.reduce((sum, [p]) => sum + p, 0)) / 7;
      for (let c = 0; c < 10; c++) if (!top.some(([, k]) => k === c)) expect(got[c]).toBeCloseTo(rest, 3);
    }
    // Decoding in memory (a top-k run without a file) gives exactly what the file gives.
    applyEncoding(table, TOP3);
    expect(table.values).toEqual(decoded.values);
  });

  it('uses 32-bit class indices past 65,536 classes', async () => {
    const table = randomTable(3, 70_000);
    table.values[1 * 70_000 + 69_999] = 1e3;
    const file = join(dir, 'wide.sl');
    await writeSoftLabels(file, table, { key: 'k', encoding: TOP3, labelSeconds: 1 });
    expect(bytesPerRow(TOP3, 70_000)).toBe(18);
    const decoded = LogitTable.create(3, 70_000);
    expect((await readSoftLabels(file, decoded, 'k', TOP3)).ok).toBe(true);
    expect(decoded.argmax()[1]).toBe(69_999);
  });

  it('reports an absent file, another key or encoding, a wrong magic, truncation and damage', async () => {
    const table = randomTable(5000);
    const file = join(dir, 'checks.sl');
    await writeSoftLabels(file, table, { key: 'teacher-a', encoding: FULL, labelSeconds: 1 });
    const read = (path: string, key = 'teacher-a', encoding: object = FULL) =>
      readSoftLabels(path, LogitTable.create(5000, 10), key, encoding as never);
    expect(await read(join(dir, 'none.sl'))).toEqual({ ok: false, reason: 'absent' });
    expect(await read(file, 'teacher-b')).toEqual({ ok: false, reason: 'made from another teacher, data or preprocessing' });
    expect(await read(file, 'teacher-a', TOP3)).toEqual({
      ok: false,
      reason: 'encoded as full float32 logits, this run needs top-3 at temperature 4',
    });
    const bytes = await readFile(file);
    const damaged = join(dir, 'damaged.sl');
    bytes[bytes.length - 1000] ^= 0x01;
    await writeFile(damaged, bytes);
    expect(await read(damaged)).toEqual({ ok: false, reason: 'checksum mismatch (the file is damaged)' });
    await truncate(damaged, bytes.length - 7);
    expect((await read(damaged)).reason).toMatch(/bytes, the header implies \d+ \(truncated\?\)$/);
    await writeFile(damaged, Buffer.from('not a store at all'));
    expect(await read(damaged)).toEqual({ ok: false, reason: 'not a tfjs-distill soft-label file' });
  });

  it('a write that fails leaves neither the file nor a temporary one', async () => {
    const target = join(dir, 'occupied');
    await mkdir(join(target, 'child'), { recursive: true }); // a non-empty folder: the rename must fail
    await expect(writeSoftLabels(target, randomTable(100), { key: 'k', encoding: FULL, labelSeconds: 1 })).rejects.toThrow(
      /^could not write the soft labels to .*occupied: /,
    );
    expect((await readdir(dir)).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });
});

describe('distill() with a soft-label store', () => {
  let train: Dataset;
  let test: Dataset;
  const run = (extra: object) =>
    distill({
      teacher: buildModel('mlp:32', { inputShape: [28, 28], numClasses: 10, seed: 1 }),
      student: buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10, seed: 2 }),
      train,
      test,
      workers: 2,
      epochs: 1,
      teacherEpochs: 1,
      batchSize: 50,
      backend: 'wasm',
      ...extra,
    });
  const weights = (model: tf.LayersModel) => model.getWeights().flatMap((w) => [...w.dataSync()]);

  beforeAll(async () => {
    ({ train, test } = await digitRows(600, 200));
  });

  it('labels once, then reuses the file (no labelling), and a damaged file is noticed and rewritten', async () => {
    const file = join(dir, 'run.sl');
    const first = await run({ softLabels: file });
    expect(first.report.softLabels).toMatchObject({ file, reused: false, encoding: 'full float32 logits', bytesPerRow: 40 });
    const events: string[] = [];
    const second = await run({ softLabels: file, onProgress: (e: { phase: string }) => events.push(e.phase) });
    expect(second.report.softLabels.reused).toBe(true);
    expect(events).not.toContain('label'); // the teacher labelled nothing
    expect(weights(second.student)).toEqual(weights(first.student));
    // The summary says whose labelling rate it shows.
    const names = { teacher: 'mlp:16', student: 'mlp:8' };
    expect(summaryTable(first.report, names)).toMatch(/labelling [\d,]+, distillation/);
    expect(summaryTable(second.report, names)).toMatch(/labelling [\d,]+ \(when the reused file was written\), distillation/);

    const bytes = await readFile(file);
    bytes[bytes.length - 100] ^= 0x40;
    await writeFile(file, bytes);
    const third = await run({ softLabels: file });
    expect(third.report.softLabels.reused).toBe(false);
    expect(third.report.notices).toContain(
      `soft labels in ${file} not reused (checksum mismatch (the file is damaged)); labelled again and rewrote the file`,
    );
    expect(weights(third.student)).toEqual(weights(first.student));
  });

  it('top-k: the first run learns from what the file keeps, so a reuse reproduces it; a full-logits file is not mistaken for it', async () => {
    const file = join(dir, 'run.sl'); // holds full logits from the test above
    const first = await run({ softLabels: file, softLabelTopK: 3 });
    // Every training row keeps its label here: the run's temperature is the default for labelled rows.
    const temperature = DISTILLATION_DEFAULTS.mostLabelled.temperature;
    expect(first.report.softLabels).toMatchObject({ reused: false, encoding: `top-3 at temperature ${temperature}`, bytesPerRow: 12 });
    expect(first.report.notices.join('\n')).toContain(`encoded as full float32 logits, this run needs top-3 at temperature ${temperature}`);
    const second = await run({ softLabels: file, softLabelTopK: 3 });
    expect(second.report.softLabels.reused).toBe(true);
    expect(weights(second.student)).toEqual(weights(first.student));
    await expect(run({ softLabelTopK: 10 })).rejects.toThrow(/^softLabelTopK must be an integer in \[1, 9\] for 10 classes, got 10$/);
    expect(existsSync(join(dir, 'run.sl'))).toBe(true);
  });
});
