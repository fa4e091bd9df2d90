import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBlas } from '../dist/kernels/blas-loader.js';
import { type TokenFrontLoops, javascriptTokenFrontLoops, nativeTokenFrontLoops } from '../dist/kernels/token-front-loops.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelFromData, modelToData } from '../dist/models/model-data.js';
import { type TokenFront, tokenFront } from '../dist/models/token-front.js';
import { mulberry32 } from '../dist/random.js';
import { meanLoss } from '../dist/train/losses.js';

const MAX_LENGTH = 12;
const VOCAB = 30;
const CLASSES = 3;
const ROWS = 9;
const LOSS = { name: 'kd', temperature: 2, alpha: 0.5 } as const;

const build = (spec: string) => buildModel(spec, { inputShape: [MAX_LENGTH], numClasses: CLASSES, vocabSize: VOCAB, seed: 4 });
/** As a worker gets the model: saved, then loaded. */
const reloaded = async (spec: string) => modelFromData(await modelToData(build(spec)));

/** Token rows of every length 0 to MAX_LENGTH (row 0 all padding), ids repeating within rows. */
function tokenRows(): Float32Array {
  const random = mulberry32(3);
  const ids = new Float32Array(ROWS * MAX_LENGTH);
  for (let r = 1; r < ROWS; r++) {
    const length = Math.min(MAX_LENGTH, 1 + Math.floor(random() * MAX_LENGTH));
    for (let t = 0; t < length; t++) ids[r * MAX_LENGTH + t] = 1 + Math.floor(random() * 6);
  }
  return ids;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  return Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
};

/** The JavaScript loops, and the addon's where it loads (TFJS_DISTILL_REQUIRE_OPENBLAS=1 requires it). */
function implementations(): [string, TokenFrontLoops][] {
  const load = loadBlas();
  if ('error' in load) {
    if (process.env.TFJS_DISTILL_REQUIRE_OPENBLAS === '1') throw new Error(load.error);
    return [['javascript', javascriptTokenFrontLoops]];
  }
  return [
    ['javascript', javascriptTokenFrontLoops],
    ['native', nativeTokenFrontLoops(load.blas)],
  ];
}

/** The fused front's output for `ids`, from the model's own table placed after other values (as in the shared weights). */
function frontOf(front: TokenFront, ids: Float32Array, loops: TokenFrontLoops): tf.Tensor {
  const values = new Float32Array(3 + front.table.read().size);
  values.set(front.table.read().dataSync(), 3);
  const table = { values, offset: 3, vocabSize: VOCAB, width: front.width };
  const tokens = { ids, rows: ROWS, maxLength: MAX_LENGTH };
  const perRow = front.kind === 'mean' ? front.width : MAX_LENGTH * front.width;
  const out = new Float32Array(ROWS * perRow);
  if (front.kind === 'mean') loops.meanOfRealTokens(table, tokens, out);
  else loops.realTokenRows(table, tokens, out);
  return tf.tensor(out, front.kind === 'mean' ? [ROWS, front.width] : [ROWS, MAX_LENGTH, front.width]);
}

/** The table's gradient from the front's gradient, added after other values (as in a gradient slot). */
function tableGradient(front: TokenFront, ids: Float32Array, dFront: Float32Array, loops: TokenFrontLoops): Float32Array {
  const values = new Float32Array(3 + VOCAB * front.width);
  const grad = { values, offset: 3, vocabSize: VOCAB, width: front.width };
  const tokens = { ids, rows: ROWS, maxLength: MAX_LENGTH };
  if (front.kind === 'mean') loops.addMeanGradient(grad, tokens, dFront);
  else loops.addRowsGradient(grad, tokens, dFront);
  expect(Array.from(values.subarray(0, 3))).toEqual([0, 0, 0]); // nothing written before the table
  return values.subarray(3);
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.slice().buffer), Buffer.from(b.slice().buffer)) === 0;

/** The KD loss of the model's logits against fixed teacher logits and labels. */
function lossOf(student: tf.Tensor): tf.Scalar {
  const random = mulberry32(9);
  const teacher = tf.tensor2d(
    Float32Array.from({ length: ROWS * CLASSES }, () => random() * 4 - 2),
    [ROWS, CLASSES],
  );
  const labels = tf.tensor1d(
    Int32Array.from({ length: ROWS }, (_, i) => (i % 4 === 3 ? -1 : i % CLASSES)),
    'int32',
  );
  return meanLoss(LOSS, { student: student as tf.Tensor2D, teacher, labels });
}

describe('the fused token front of text students', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('is recognised in saved and reloaded bag and cnn1d students, and in no other family', async () => {
    expect(tokenFront(await reloaded('bag:5'))?.kind).toBe('mean');
    expect(tokenFront(await reloaded('cnn1d:5,4'))?.kind).toBe('rows');
    const front = tokenFront(await reloaded('cnn1d:5,4'))!;
    expect([front.vocabSize, front.width, front.maxLength]).toEqual([VOCAB, 5, MAX_LENGTH]);
    expect(tokenFront(await reloaded('bilstm:5,4'))).toBeUndefined();
    expect(tokenFront(buildModel('mlp:8', { inputShape: [MAX_LENGTH], numClasses: CLASSES }))).toBeUndefined();
  });

  it('is not recognised when the padding scores are not the fixed ones (the mean would not be over the real tokens)', async () => {
    const model = await reloaded('bag:5');
    const scores = model.getLayer('padding_scores');
    scores.setWeights([tf.tensor2d([[2]]), tf.tensor1d([-1])]);
    expect(tokenFront(model)).toBeUndefined();
  });

  for (const spec of ['bag:5', 'cnn1d:5,4'])
    for (const [name, loops] of implementations()) {
      it(`${spec} (${name} loops): gives the stock graph's logits, and its gradient for every weight`, async () => {
        const model = await reloaded(spec);
        const front = tokenFront(model)!;
        const ids = tokenRows();
        const x = tf.tensor2d(ids, [ROWS, MAX_LENGTH]);
        const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const stock = tf.variableGrads(() => lossOf(model.apply(x, { training: true }) as tf.Tensor), variables);

        const frontTensor = frontOf(front, ids, loops);
        const stockLogits = model.apply(x) as tf.Tensor;
        expect(maxAbsDiff(front.head(frontTensor, x).dataSync(), stockLogits.dataSync())).toBeLessThanOrEqual(1e-6);

        const table = front.table.read();
        const others = variables.filter((v) => v.name !== table.name);
        const fused = tf.engine().gradients(() => lossOf(front.head(frontTensor, x)), [frontTensor, ...others], undefined, true);
        expect(Math.abs(fused.value.dataSync()[0] - stock.value.dataSync()[0])).toBeLessThanOrEqual(1e-6);
        const tableGrad = tableGradient(front, ids, fused.grads[0].dataSync() as Float32Array, loops);
        const stockTable = stock.grads[table.name].dataSync() as Float32Array;
        expect(maxAbsDiff(stockTable, new Float32Array(stockTable.length))).toBeGreaterThan(1e-3); // real gradients compared below
        expect(maxAbsDiff(tableGrad, stockTable)).toBeLessThanOrEqual(1e-7);
        others.forEach((variable, i) => {
          expect(maxAbsDiff(fused.grads[i + 1].dataSync(), stock.grads[variable.name].dataSync()), variable.name).toBeLessThanOrEqual(1e-6);
        });
      });
    }

  it("the native loops give the JavaScript loops' bits", async () => {
    const native = implementations().find(([name]) => name === 'native')?.[1];
    if (!native) return; // no addon here (a run that requires it fails in implementations())
    const ids = tokenRows();
    const random = mulberry32(2);
    for (const spec of ['bag:5', 'cnn1d:5,4']) {
      const front = tokenFront(await reloaded(spec))!;
      const [js, own] = [javascriptTokenFrontLoops, native].map((loops) => frontOf(front, ids, loops).dataSync() as Float32Array);
      expect(sameBits(js, own), spec).toBe(true);
      const dFront = Float32Array.from(js, () => random() * 2 - 1);
      const [jsGrad, ownGrad] = [javascriptTokenFrontLoops, native].map((loops) => tableGradient(front, ids, dFront, loops));
      expect(maxAbsDiff(jsGrad, new Float32Array(jsGrad.length))).toBeGreaterThan(0.1);
      expect(sameBits(jsGrad, ownGrad), spec).toBe(true);
    }
  });

  it('a row of padding alone averages the padding embedding, as the stock softmax over equal scores does', async () => {
    const front = tokenFront(await reloaded('bag:5'))!;
    for (const [, loops] of implementations()) {
      const mean = frontOf(front, tokenRows(), loops).arraySync() as number[][];
      const padding = (front.table.read().arraySync() as number[][])[0];
      expect(maxAbsDiff(mean[0], padding)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('refuses a token id outside the vocabulary, naming it', async () => {
    for (const spec of ['bag:5', 'cnn1d:5,4'])
      for (const [name, loops] of implementations()) {
        const front = tokenFront(await reloaded(spec))!;
        const ids = tokenRows();
        for (const bad of [VOCAB, 1.5, -1]) {
          ids[2 * MAX_LENGTH] = bad;
          expect(() => frontOf(front, ids, loops), `${spec} ${name}`).toThrow(`token id ${bad} in row 2 is not in [0, ${VOCAB})`);
        }
      }
  });
});

describe('a fused text student in a run', () => {
  it("validation and keep 'best' see the trained table: the best epoch's weights are a shorter run's", async () => {
    const { loadDataSource } = await import('../dist/data/data-source.js');
    const { distill } = await import('../dist/distill/distill.js');
    const { TOKENIZER_DIRS } = await import('./helpers/tokenizer-fixtures.js');
    const spam = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;
    const { train, test, vocabSize } = await loadDataSource({
      source: `text:${spam}`,
      tokenizer: TOKENIZER_DIRS.unigram,
      maxLength: 32,
      testFraction: 0.2,
      seed: 1,
      workers: 2,
    });
    const shape = { inputShape: [32], numClasses: 2, vocabSize };
    const options = {
      train,
      test,
      teacherEpochs: 1,
      labeled: 100,
      batchSize: 32,
      workers: 2,
      seed: 3,
      validation: 40,
      optimizer: { learningRate: 0.05 },
      allowWeakTeacher: true,
    };
    const run = (epochs: number, keep: 'best' | 'last') =>
      distill({
        teacher: buildModel('bag:8', { ...shape, seed: 1 }),
        student: buildModel('bag:8', { ...shape, seed: 2 }),
        epochs,
        keep,
        ...options,
      });
    const weights = async (model: tf.LayersModel) => new Float32Array((await modelToData(model)).weights);
    const best = await run(4, 'best');
    const kept = best.report.phases.find((p) => p.phase === 'student')!.selection!;
    expect(kept.keptEpoch).toBe(kept.bestEpoch);
    const cut = await run(kept.bestEpoch, 'last');
    const [a, b] = [await weights(best.student), await weights(cut.student)];
    expect(maxAbsDiff(a, b)).toBe(0);
    const initial = await weights(buildModel('bag:8', { ...shape, seed: 2 }));
    expect(maxAbsDiff(a.subarray(0, vocabSize * 8), initial.subarray(0, vocabSize * 8))).toBeGreaterThan(1e-3); // the table trained
  }, 120_000);
});
