// A tfjs model folder (model.json + weights) loaded the way a user of stock @tensorflow/tfjs loads it, with
// no tfjs-distill code: the size and latency benches share it.
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The folder's model, loaded through tf.io.fromMemory, and its weight bytes. */
export async function loadStockFolder(folder) {
  const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8'));
  const paths = json.weightsManifest.flatMap((group) => group.paths);
  const data = Buffer.concat(await Promise.all(paths.map((path) => readFile(join(folder, path)))));
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    }),
  );
  return { model, weightBytes: data.byteLength };
}
