import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, readFile, truncate, writeFile, appendFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DistillError, buildModel, loadModel, saveModel } from '../dist/index.js';
import { logitsTopology, modelToData } from '../dist/models/model-data.js';

let dir: string;
const input = () => tf.randomUniform([5, 28, 28], 0, 1, 'float32', 3);

describe('saving and loading models', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-models-'));
  });

  for (const spec of ['mlp:32,16', 'cnn:4,8']) {
    it(`${spec}: a round trip gives identical predictions`, async () => {
      const model = buildModel(spec, { inputShape: [28, 28], numClasses: 10, seed: 9 });
      const target = join(dir, spec.replace(/\W/g, '_'));
      const bytes = await saveModel(model, target);
      expect((await readdir(target)).sort()).toEqual(['model.json', 'weights.bin']);
      const json = JSON.parse(await readFile(join(target, 'model.json'), 'utf8'));
      expect(json.format).toBe('layers-model');
      expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
      const weightsBytes = (await readFile(join(target, 'weights.bin'))).byteLength;
      expect(weightsBytes).toBe(model.countParams() * 4);
      expect(bytes).toBe(weightsBytes + Buffer.byteLength(await readFile(join(target, 'model.json'))));

      const loaded = await loadModel(target);
      const x = input();
      const a = (model.predict(x) as tf.Tensor).dataSync();
      const b = (loaded.predict(x) as tf.Tensor).dataSync();
      expect(Array.from(b)).toEqual(Array.from(a));
      // The standard layout: tf.loadLayersModel reads it through a memory handler too.
      const viaTf = await tf.loadLayersModel(
        tf.io.fromMemory({
          modelTopology: json.modelTopology,
          weightSpecs: json.weightsManifest[0].weights,
          weightData: new Uint8Array(await readFile(join(target, 'weights.bin'))).buffer,
        }),
      );
      expect(Array.from((viaTf.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(a));
    });
  }

  it('saving over an existing model replaces it and leaves no staging folder', async () => {
    const target = join(dir, 'replace');
    await saveModel(buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10 }), target);
    await saveModel(buildModel('mlp:4', { inputShape: [28, 28], numClasses: 10 }), target);
    expect((await loadModel(target)).countParams()).toBe(784 * 4 + 4 + 4 * 10 + 10);
    expect((await readdir(dir)).filter((name) => name.includes('partial'))).toEqual([]);
  });

  describe('bad model files', () => {
    let good: string;
    beforeAll(async () => {
      good = join(dir, 'good');
      await saveModel(buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10 }), good);
    });
    const copy = async (name: string) => {
      const target = join(dir, name);
      await rm(target, { recursive: true, force: true });
      await saveModel(await loadModel(good), target);
      return target;
    };

    it('a truncated weights.bin', async () => {
      const target = await copy('truncated');
      await truncate(join(target, 'weights.bin'), 100);
      await expect(loadModel(target)).rejects.toThrow(
        /the weights of .*truncated\/model.json are truncated: the manifest needs 25480 bytes, the files hold 100; re-export the model/,
      );
    });

    it('a weights.bin longer than its manifest (weights of another topology)', async () => {
      const target = await copy('longer');
      await appendFile(join(target, 'weights.bin'), Buffer.alloc(16));
      await expect(loadModel(target)).rejects.toThrow(/longer than its manifest says/);
    });

    it('a missing weights file', async () => {
      const target = await copy('missing');
      await rm(join(target, 'weights.bin'));
      await expect(loadModel(target)).rejects.toThrow(/lists the weights file weights.bin, which cannot be read/);
    });

    it('a model.json that is not JSON, or not a layers model, or absent', async () => {
      const target = await copy('broken');
      await writeFile(join(target, 'model.json'), '{ not json');
      await expect(loadModel(target)).rejects.toThrow(/model.json is not valid JSON/);
      await writeFile(join(target, 'model.json'), '{"format": "graph-model"}');
      await expect(loadModel(target)).rejects.toThrow(/is not a tfjs layers model: it has no modelTopology/);
      await expect(loadModel(join(dir, 'nowhere'))).rejects.toThrow(DistillError);
    });

    it('refuses weight paths that leave the model folder, before reading them', async () => {
      const target = join(dir, 'escape');
      await saveModel(buildModel('mlp:4', { inputShape: [3], numClasses: 2 }), target);
      const json = JSON.parse(await readFile(join(target, 'model.json'), 'utf8'));
      for (const path of ['../../etc/passwd', '/etc/passwd', 'sub/../../weights.bin']) {
        json.weightsManifest[0].paths = [path];
        await writeFile(join(target, 'model.json'), JSON.stringify(json));
        await expect(loadModel(target)).rejects.toThrow(
          new RegExp(`lists the weights file '${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}', which is outside the model's folder`),
        );
      }
      json.weightsManifest[0].paths = ['./weights.bin'];
      await writeFile(join(target, 'model.json'), JSON.stringify(json));
      // A path that stays in the folder loads: the same weights as the saved model.
      expect((await loadModel(target)).countParams()).toBe(3 * 4 + 4 + 4 * 2 + 2);
    });
  });

  it('logitsTopology turns an output softmax (activation, Softmax or Activation layer) into logits, Sequential and functional, nested model.json', async () => {
    const sequential = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'softmax' })] });
    const inputs = tf.input({ shape: [3] });
    const hidden = tf.layers.dense({ units: 4, activation: 'softmax', name: 'not_output' }).apply(inputs) as tf.SymbolicTensor;
    const outputs = tf.layers.dense({ units: 2, activation: 'softmax', name: 'probs' }).apply(hidden) as tf.SymbolicTensor;
    const functional = tf.model({ inputs, outputs });
    // A separate softmax layer at the output, in both of its forms.
    const softmaxLayer = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 }), tf.layers.softmax()] });
    const activationLayer = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [3], units: 2 }), tf.layers.activation({ activation: 'softmax' })],
    });
    const logitsIn = tf.input({ shape: [3] });
    const functionalSoftmax = tf.model({
      inputs: logitsIn,
      outputs: tf.layers.softmax({ name: 'probabilities' }).apply(tf.layers.dense({ units: 2 }).apply(logitsIn)) as tf.SymbolicTensor,
    });
    for (const model of [sequential, functional, softmaxLayer, activationLayer, functionalSoftmax]) {
      const { topology, weightSpecs, weights } = await modelToData(model);
      for (const variant of [topology, { model_config: topology }]) {
        const stripped = logitsTopology(variant) as { model_config?: object };
        const logitsModel = await tf.loadLayersModel(
          tf.io.fromMemory({ modelTopology: stripped.model_config ?? stripped, weightSpecs, weightData: weights }),
        );
        const x = tf.tensor2d([[0.1, -0.2, 0.3]]);
        const logits = logitsModel.predict(x) as tf.Tensor;
        // softmax(logits) gives back the original probabilities, and the logits are not probabilities.
        expect(Array.from(tf.softmax(logits).dataSync())).toEqual(
          Array.from((model.predict(x) as tf.Tensor).dataSync()).map((v) => expect.closeTo(v, 6)),
        );
        expect(Math.abs(logits.sum().dataSync()[0] - 1)).toBeGreaterThan(1e-3);
      }
      expect(JSON.stringify(topology)).toMatch(/softmax/i); // the original is untouched
    }
  });
});
