import { mkdtemp, rm } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataSource } from '../dist/data/data-source.js';
import type { Dataset } from '../dist/data/dataset.js';
import { LogitTable } from '../dist/data/logit-table.js';
import { readSoftLabels } from '../dist/data/soft-label-store.js';
import { layersInference } from '../dist/infer/predictor.js';
import { label, labelOnKeptPools } from '../dist/labelling/label.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { PoolKeeper } from '../dist/pool/pool-keeper.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';

/** A BERT-style classifier trained and exported by examples/text-teacher/ (Hugging Face layout). */
const TEACHER = new URL('./fixtures/text-teacher', import.meta.url).pathname;
const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;
const WORKER_MODULE = new URL('../dist/worker.js', import.meta.url).href;

// label() with a teacher that onnxruntime runs starts its threads without tfjs: most of a thread's start.
describe('pools that load no tfjs', () => {
  let dir: string;
  let rows: Dataset;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'no-tfjs-'));
    const splits = await loadDataSource({
      source: `text:${SPAM}`,
      testSource: `text:${SPAM}`,
      tokenizer: TEACHER,
      maxLength: 128,
      classes: ['spam', 'ham'],
      testFraction: 0.2,
      seed: 1,
      workers: 1,
    });
    rows = splits.test;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("label() runs an ONNX teacher on threads without tfjs, and writes the store a tfjs pool's threads write", async () => {
    const alone = await label({ teacher: TEACHER, train: rows, softLabels: join(dir, 'alone.bin'), workers: 2 });
    expect(alone.reused).toBe(false);
    expect(alone.teacherRuntime).toBe('onnxruntime');
    expect(alone.backend).toBeNull();
    expect(alone.kernels).toBeNull();
    // A kept pool is reused by runs that train, so it loads tfjs: the same teacher there gives the same bytes.
    const keeper = new PoolKeeper();
    try {
      const kept = await labelOnKeptPools({ teacher: TEACHER, train: rows, softLabels: join(dir, 'kept.bin'), workers: 2 }, keeper);
      expect(kept.backend).not.toBeNull();
      expect(kept.key).toBe(alone.key);
      // The files differ only in the seconds each run took; the labels are the same bits.
      const values = async (file: string) => {
        const table = LogitTable.create(rows.shape[0], 2);
        expect((await readSoftLabels(join(dir, file), table, alone.key, { kind: 'float32' })).ok).toBe(true);
        return Buffer.from(table.values.buffer);
      };
      expect((await values('kept.bin')).equals(await values('alone.bin'))).toBe(true);
    } finally {
      await keeper.close();
    }
  });

  it("the pool threads' module imports no tfjs until a task needs it", async () => {
    // In a thread of its own, as a pool thread starts: import the worker module, then list what it loaded.
    const code = `
      const { parentPort } = require('node:worker_threads');
      const loaded = () => Object.keys(require('node:module')._cache).filter((file) => file.includes('@tensorflow'));
      import(${JSON.stringify(WORKER_MODULE)}).then(() => parentPort.postMessage(loaded()));
    `;
    const thread = new Worker(code, { eval: true });
    try {
      const loaded = await new Promise<string[]>((resolve, reject) => {
        thread.once('message', resolve);
        thread.once('error', reject);
      });
      expect(loaded).toEqual([]);
    } finally {
      await thread.terminate();
    }
  });

  it('refuses a tfjs model on such a pool, loudly, and a keeper never keeps its threads', async () => {
    const options = { workers: 1, backend: 'auto', barrierTimeoutMs: 20_000, loadTfjs: false } as const;
    const pool = await TfjsPool.startTfjs(options);
    try {
      expect(pool.backend).toBeNull();
      expect(() => pool.tfjsRuntime()).toThrow(/started without tfjs/);
      const model = buildModel('mlp:4', { inputShape: [3], numClasses: 2, seed: 1 });
      const handle = layersInference(shareModel(await modelToData(model)));
      await expect(pool.runOnEveryRank(() => ({ task: { kind: 'load', model: handle } }), { barriers: [] })).rejects.toThrow(
        /started without tfjs/,
      );
    } finally {
      await pool.destroy();
    }
    const keeper = new PoolKeeper();
    const taken = await keeper.take(options);
    await keeper.giveBack(options, taken);
    expect(keeper.idleThreads).toBe(0);
    await keeper.close();
  });
});
