import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { absoluteSource } from '../dist/data/data-source.js';
import {
  DISTILLATION_LOSSES,
  buildModel,
  distill,
  isArchitectureSpec,
  listArchitectures,
  listDataSources,
  listLosses,
  listTeacherKinds,
  loadDataSource,
} from '../dist/index.js';
import { lossOptionProblem, lossSpecOf } from '../dist/train/losses.js';

describe('the registries', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('losses: the names, the option checks and the specs come from the entries', () => {
    const named = listLosses().filter((loss) => loss.usesTeacher && loss.usage === loss.name);
    expect(DISTILLATION_LOSSES).toEqual(named.map((loss) => loss.name));
    expect(DISTILLATION_LOSSES).toEqual(['kd', 'dkd', 'mse-logits']);
    expect(
      listLosses()
        .find((loss) => loss.name === 'dkd')
        ?.parameters.map((p) => [p.name, p.default]),
    ).toEqual([
      ['targetWeight', 1],
      ['nonTargetWeight', 8],
    ]);
    expect(lossSpecOf('dkd', { temperature: 3, alpha: 0.7 })).toEqual({
      name: 'dkd',
      temperature: 3,
      alpha: 0.7,
      targetWeight: 1,
      nonTargetWeight: 8,
    });
    expect(lossSpecOf({ name: 'mse-logits' }, { temperature: 3, alpha: 0.7 })).toEqual({ name: 'mse-logits', alpha: 0.7 });
    const custom = lossSpecOf({ module: 'file:///x/loss.mjs' }, { temperature: 2, alpha: 1 });
    expect(custom).toEqual({ name: 'custom', temperature: 2, alpha: 1, module: 'file:///x/loss.mjs', options: {} });
    expect(lossSpecOf({ module: 'rel/loss.mjs' }, { temperature: 2, alpha: 1 })).toMatchObject({
      module: expect.stringMatching(/^file:\/\/\/.*\/rel\/loss\.mjs$/),
    });
    expect(lossOptionProblem({ name: 'dkd', targetWeight: Number.NaN })).toBe('loss.targetWeight must be a number >= 0, got NaN');
    expect(lossOptionProblem({ module: 3 })).toBe('loss.module must be a module path, got 3');
    expect(lossOptionProblem('hard')).toMatch(/^loss "hard" is not one of kd, dkd, mse-logits, or \{ module: /);
  });

  it('architectures: specs are recognised by the registered names; an unknown one lists every family', () => {
    expect(listArchitectures().map((family) => family.usage)).toEqual([
      'mlp:W1,W2,...',
      'cnn:F1,F2,...',
      'bag:D',
      'cnn1d:D,F',
      'bilstm:D,H',
    ]);
    expect([isArchitectureSpec('cnn:8'), isArchitectureSpec('./mlp:32'), isArchitectureSpec('rnn:8')]).toEqual([true, false, false]);
    expect(() => buildModel('rnn:8', { inputShape: [4], numClasses: 2 })).toThrow(
      /^unknown architecture 'rnn:8': use 'mlp:W1,W2,\.\.\.' \(hidden layer widths\), 'cnn:F1,F2,\.\.\.' \(conv filters per block\), 'bag:D' \(embedding width\), 'cnn1d:D,F' \(embedding width, filters\) or 'bilstm:D,H' \(embedding width, LSTM units a direction\), e\.g\. mlp:64, cnn:32,64, bag:64, cnn1d:64,128 or bilstm:64,64$/,
    );
    expect(() => buildModel('cnn:8', { inputShape: [4], numClasses: 2 })).toThrow(/needs image rows .* use an mlp architecture$/);
  });

  it('data sources: unknown kinds and testData are refused naming the kinds; absoluteSource follows each kind', async () => {
    expect(listDataSources().map((source) => source.usage)).toEqual([
      'mnist',
      'idx:DIR',
      'csv:FILE',
      'npy:X.npy,Y.npy',
      'images:DIR',
      'text:FILE',
    ]);
    const load = (source: string, testSource?: string) => loadDataSource({ source, testSource, testFraction: 0.2, seed: 1 });
    await expect(load('mnist:extra')).rejects.toThrow(
      "unknown data 'mnist:extra': use mnist, idx:DIR, csv:FILE, npy:X.npy,Y.npy, images:DIR or text:FILE",
    );
    await expect(load('idx:/nowhere', 'npy:a,b')).rejects.toThrow(/^testData applies to data csv:, npy: and text: sources/);
    expect(absoluteSource('npy:x.npy,y.npy', '/data')).toBe('npy:/data/x.npy,/data/y.npy');
    expect(absoluteSource('images:pics', '/data')).toBe('images:/data/pics');
    expect(absoluteSource('text:rows.jsonl', '/data')).toBe('text:/data/rows.jsonl');
    expect(absoluteSource('mnist', '/data')).toBe('mnist');
  });

  it('teacher kinds: a setting the kind does not take is refused before the teacher opens, naming the kinds that take it', async () => {
    expect(listTeacherKinds().map((kind) => kind.name)).toEqual(['ensemble', 'onnx-ml', 'onnx', 'graph-model', 'layers']);
    const rows = tf.randomUniform([64, 4]).dataSync() as Float32Array;
    const data = { x: rows, shape: [64, 4], y: Int32Array.from({ length: 64 }, (_, i) => i % 2), numClasses: 2 };
    const model = (seed: number) => buildModel('mlp:4', { inputShape: [4], numClasses: 2, seed });
    const run = (options: object) => distill({ teacher: model(1), student: model(2), train: data, test: data, workers: 1, ...options });
    await expect(run({ teacherLayout: 'nchw' })).rejects.toThrow(/^teacherLayout applies to ONNX teachers; drop it for a layers model$/);
    await expect(run({ teacherOutput: 'logits' })).rejects.toThrow(
      /^teacherOutput applies to ONNX-ML, ONNX and graph-model teachers; drop it for a layers model$/,
    );
  });
});
