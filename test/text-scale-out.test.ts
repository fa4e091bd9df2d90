import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataSource } from '../dist/data/data-source.js';
import { buildModel, saveModel } from '../dist/index.js';
import { Cli, expectSameBytes, freePort, hasRedis, startRedis, storeParts } from './helpers/queue-processes.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;
// Relative paths, as a user types them: the queue's jobs must name the same files for workers elsewhere.
const TEXT = [
  '--data',
  `text:${relative(process.cwd(), SPAM)}`,
  '--tokenizer',
  relative(process.cwd(), TOKENIZER_DIRS.unigram),
  '--max-length',
  '64',
  '--augment',
  'mask:0.1,ngram:0.25',
  '--augment-copies',
  '3',
];
/** 320 training e-mails (80 held out for testing) and 3 augmented copies of each. */
const ROWS = 1280;

let dir: string;
let teacher: string;
let single: string;
const run = (args: string[]) => new Cli(args).exited;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-text-scale-'));
  await tf.setBackend('cpu');
  const { vocabSize } = await loadDataSource({
    source: `text:${SPAM}`,
    tokenizer: TOKENIZER_DIRS.unigram,
    maxLength: 64,
    testFraction: 0.2,
    seed: 1,
    workers: 1,
  });
  teacher = join(dir, 'teacher');
  await saveModel(buildModel('cnn1d:16,16', { inputShape: [64], numClasses: 2, vocabSize, seed: 3 }), teacher);
  single = join(dir, 'single.sl');
  const result = await run(['label', ...TEXT, '--teacher', teacher, '--soft-labels', single, '--workers', '2']);
  expect(result.status, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/labelled 1,280 rows \(every row\)/);
  expect((await storeParts(single)).header).toMatchObject({ rows: ROWS });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('text labelling is identical everywhere', () => {
  it('shards labelled apart, on another thread count, merge into the store labelled at once', async () => {
    const stem = join(dir, 'sharded.sl');
    const shard = (k: number) =>
      run(['label', ...TEXT, '--teacher', teacher, '--soft-labels', stem, '--shard', `${k}/3`, '--workers', '1']);
    const results = await Promise.all([shard(0), shard(1), shard(2)]);
    for (const result of results) expect(result.status, result.stderr).toBe(0);
    expect(results[2].stdout).toMatch(/shard 2\/3, rows 768-1279 of 1,280/);
    const merged = join(dir, 'merged.sl');
    const result = await run(['merge', merged, ...[0, 1, 2].map((k) => `${stem}.shard-${k}-of-3`)]);
    expect(result.status, result.stderr).toBe(0);
    await expectSameBytes(merged, single);
    // Without the copies the rows are others: the store is not reused, and its key differs.
    const other = join(dir, 'other.sl');
    const unaugmented = TEXT.slice(0, 6);
    const plain = await run(['label', ...unaugmented, '--teacher', teacher, '--soft-labels', other, '--workers', '1']);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/labelled 320 rows/);
    expect((await storeParts(other)).header.key).not.toBe((await storeParts(single)).header.key);
  });

  describe.skipIf(!hasRedis)('on a BullMQ queue (a local redis-server)', () => {
    let redis: ChildProcess;
    let port: number;
    const processes: Cli[] = [];
    beforeAll(async () => {
      port = await freePort();
      redis = await startRedis(port);
    });
    afterAll(() => {
      for (const cli of processes) cli.child.kill('SIGKILL');
      redis?.kill('SIGTERM');
    });

    it('workers in another folder load the same rows from the job and give the local store, byte for byte', async () => {
      const queue = `redis://127.0.0.1:${port}/spam`;
      // The workers run in another folder: the job must carry absolute paths for the data and the tokenizer.
      const workers = [0, 1].map(() => new Cli(['worker', '--queue', queue, '--workers', '1'], {}, dir));
      processes.push(...workers);
      const queued = join(dir, 'queued.sl');
      const coordinator = new Cli(['label', ...TEXT, '--teacher', teacher, '--soft-labels', queued, '--queue', queue, '--job-rows', '256']);
      processes.push(coordinator);
      const result = await coordinator.exited;
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/labelled 1,280 rows in 5 jobs/);
      await expectSameBytes(queued, single);
      expect(workers.map((w) => w.stdout).join('')).toMatch(/rows \d+-\d+: done in/);
      for (const w of workers) w.child.kill('SIGTERM');
      for (const w of workers) expect((await w.exited).status).toBe(0);
    });
  });
});
