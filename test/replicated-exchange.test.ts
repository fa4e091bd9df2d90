// The one-barrier gradient exchange of small models (ReplicatedAllReduce, and each rank's own optimizer
// update) against the sharded reduce-scatter it stands in for: the same means in real threads, and the
// same trained weights, bit for bit, at W=2 and W=3, with the step rules that read the whole gradient.
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogitTable } from '../dist/data/logit-table.js';
import { SharedDataset } from '../dist/data/shared-dataset.js';
import { javascriptLoops } from '../dist/kernels/exchange-loops.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData, shareModel } from '../dist/models/model-data.js';
import { SharedAllReduce } from '../dist/parallel/allreduce.js';
import { SharedBarrier } from '../dist/parallel/barrier.js';
import { ReplicatedAllReduce } from '../dist/parallel/replicated-allreduce.js';
import { TfjsPool } from '../dist/pool/tfjs-pool.js';
import { mulberry32 } from '../dist/random.js';
import { trainDataParallel } from '../dist/train/data-parallel.js';
import { planPhase } from '../dist/train/plan.js';
import type { ExchangeMode } from '../dist/train/replica.js';

const WORKER = new URL('./fixtures/allreduce-worker.mjs', import.meta.url);
type Reply = { results?: { mean: number[]; stop: boolean }[]; error?: string };

/** Every rank fills its slot with values of (rank, round) and averages them, `rounds` times, in worker threads. */
async function runRanks(
  replicated: boolean,
  workers: number,
  length: number,
  weights: number[],
  rounds: number,
  options: { stopAt?: number; slowSumMs?: number[] } = {},
) {
  const barrier = SharedBarrier.create(workers);
  const allReduce = (replicated ? ReplicatedAllReduce : SharedAllReduce).create(length, barrier, javascriptLoops);
  const replies = await Promise.all(
    Array.from({ length: workers }, (_, rank) => {
      const worker = new Worker(WORKER, {
        workerData: { handle: allReduce.handle, barrier: barrier.handle, rank, rounds, weights, replicated, ...options },
      });
      return new Promise<Reply>((resolve, reject) => {
        worker.once('message', (reply: Reply) => {
          void worker.terminate();
          resolve(reply);
        });
        worker.once('error', reject);
      });
    }),
  );
  for (const reply of replies) expect(reply.error).toBeUndefined();
  return replies.map((reply) => reply.results!);
}

describe('ReplicatedAllReduce in real worker threads', () => {
  const cases: [number, number[]][] = [
    [2, [64, 64]],
    [3, [42, 43, 43]],
    [4, [1, 0, 7, 100]], // a rank with an empty slice contributes nothing
  ];
  for (const [workers, weights] of cases) {
    it(`W=${workers}, weights [${weights}]: every rank gets the sharded exchange's mean, bit for bit`, async () => {
      const length = 1000 + workers; // not a multiple of the 16-float chunk alignment
      const replicated = await runRanks(true, workers, length, weights, 3);
      const sharded = await runRanks(false, workers, length, weights, 3);
      for (let round = 0; round < 3; round++) {
        for (const rank of replicated) expect(rank[round].mean).toEqual(sharded[0][round].mean);
      }
    });
  }

  it('a rank that runs ahead into the next exchange does not disturb a slower rank still reading this one', async () => {
    // Rank 1 sleeps between the barrier and its sum, while ranks 0 and 2 write their next round's slots.
    const rounds = 4;
    const slowSumMs = [0, 100, 0];
    const replicated = await runRanks(true, 3, 1003, [1, 2, 3], rounds, { slowSumMs });
    const sharded = await runRanks(false, 3, 1003, [1, 2, 3], rounds);
    for (let round = 0; round < rounds; round++) {
      for (const rank of replicated) expect(rank[round].mean, `round ${round}`).toEqual(sharded[0][round].mean);
    }
  });

  it('a stop requested by one rank is seen by every rank at the same round', async () => {
    const replies = await runRanks(true, 3, 40, [1, 1, 1], 4, { stopAt: 1 });
    for (const rank of replies) expect(rank.map((r) => r.stop)).toEqual([false, true, false, false]);
  });
});

const ROWS = 60;
const FEATURES = 12;
const CLASSES = 4;

describe('training with the replicated exchange', () => {
  const pools = new Map<number, TfjsPool>();
  beforeAll(async () => {
    for (const workers of [2, 3])
      pools.set(workers, await TfjsPool.startTfjs({ workers, backend: 'wasm', barrierTimeoutMs: 60_000, kernels: 'auto' }));
  }, 120_000);
  afterAll(async () => {
    for (const pool of pools.values()) await pool.destroy();
  });

  async function train(workers: number, exchange: ExchangeMode, optimizer: 'adam' | 'momentum') {
    const random = mulberry32(7);
    const x = Float32Array.from({ length: ROWS * FEATURES }, () => random() * 2 - 1);
    const y = Int32Array.from({ length: ROWS }, (_, i) => (i % 3 === 2 ? -1 : Math.floor(random() * CLASSES)));
    const data = SharedDataset.fromDataset({ x, y, shape: [ROWS, FEATURES], numClasses: CLASSES }, 'train');
    const soft = LogitTable.create(ROWS, CLASSES);
    for (let i = 0; i < soft.values.length; i++) soft.values[i] = random() * 4 - 2;
    const model = buildModel('mlp:16,8', { inputShape: [FEATURES], numClasses: CLASSES, seed: 3 });
    const outcome = await trainDataParallel(pools.get(workers)!, {
      phase: 'student',
      model: shareModel(await modelToData(model)),
      trainableParams: model.countParams(),
      data,
      rows: Int32Array.from({ length: ROWS }, (_, i) => i),
      softLabels: soft,
      loss: { name: 'kd', temperature: 2, alpha: 0.7 },
      optimizer: { name: optimizer, learningRate: 0.05 },
      // Clipping reads the norm of the whole gradient, which the sharded exchange gathers over a barrier.
      rules: { lrSchedule: { name: 'cosine', warmupSteps: 2, minLearningRate: 0.001 }, weightDecay: 0.1, clipNorm: 0.2 },
      plan: planPhase({ rows: ROWS, batchSize: 10, workers, steps: 9 }), // uneven slices at W=3, a second epoch
      seed: 5,
      onNonFinite: 'abort',
      onProgress: () => {},
      exchange,
    });
    return { weights: Buffer.from(outcome.weights), steps: outcome.steps, loss: outcome.finalLoss };
  }

  for (const optimizer of ['adam', 'momentum'] as const) {
    it(`${optimizer}: W=2 and W=3 end with the sharded exchange's weights, bit for bit`, async () => {
      for (const workers of [2, 3]) {
        const sharded = await train(workers, 'sharded', optimizer);
        const replicated = await train(workers, 'replicated', optimizer);
        expect(replicated.steps).toBe(9);
        expect(replicated.weights.equals(sharded.weights), `W=${workers}`).toBe(true);
        expect(replicated.loss).toBe(sharded.loss);
      }
    }, 120_000);
  }
});
