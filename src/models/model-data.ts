import tf from '../tf.cjs';
import { randomUUID } from 'node:crypto';
import { DistillError, messageOf } from '../errors.js';

/**
 * A layers model as plain data: the topology JSON, the weight specs and the weight bytes, in the order
 * the specs give. This is how models cross threads and reach the disk (model.json + weights.bin).
 */
export interface ModelData {
  /** `graph-model` for tfjs-converter's graphs (a teacher only); absent or `layers-model` for layers models. */
  format?: string;
  topology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weights: ArrayBuffer;
}

/**
 * What a worker receives: a model whose output layer yields logits (see {@link logitsTopology}), with
 * its weights in shared memory so that every worker reads the same bytes without a copy per task.
 */
export interface SharedModelHandle {
  /** Unique per shared model; workers cache the instantiated model under it. */
  id: string;
  topology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weights: SharedArrayBuffer;
}

/** Captures a model's topology and current weights. */
export async function modelToData(model: tf.LayersModel): Promise<ModelData> {
  let data: ModelData | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = artifacts.weightData;
      data = {
        topology: artifacts.modelTopology as object,
        weightSpecs: artifacts.weightSpecs ?? [],
        weights: Array.isArray(weights) ? tf.io.concatenateArrayBuffers(weights) : (weights ?? new ArrayBuffer(0)),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!data) throw new DistillError('could not serialise the model: its save handler was never called');
  return data;
}

/** Instantiates a model from its data; `what` names it in errors (e.g. a file path). */
export async function modelFromData(data: ModelData, what = 'model'): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: data.topology, weightSpecs: data.weightSpecs, weightData: data.weights }),
    );
  } catch (error) {
    throw new DistillError(`${what} could not be built: ${messageOf(error)}`);
  }
}

/**
 * Puts a model in shared memory for the workers, with its output softmax (if any) turned into logits:
 * distillation needs the teacher's and student's logits, and a softmax on the output layer has no
 * weights, so dropping it changes nothing else.
 */
export function shareModel(data: ModelData): SharedModelHandle {
  const weights = new SharedArrayBuffer(data.weights.byteLength);
  new Uint8Array(weights).set(new Uint8Array(data.weights));
  return { id: randomUUID(), topology: logitsTopology(data.topology), weightSpecs: data.weightSpecs, weights };
}

/** Instantiates a shared model in the calling thread (a private copy of the weights). */
export function modelFromShared(handle: SharedModelHandle): Promise<tf.LayersModel> {
  const weights = new Uint8Array(handle.weights).slice().buffer;
  return modelFromData({ topology: handle.topology, weightSpecs: handle.weightSpecs, weights });
}

/** Serialized size in bytes: model.json (topology and manifest) plus weights.bin. */
export function serializedBytes(data: ModelData): number {
  return Buffer.byteLength(JSON.stringify(modelJson(data, 'weights.bin'))) + data.weights.byteLength;
}

/** The standard tfjs model.json document for a model whose weights live in `weightsPath`. */
export function modelJson(data: ModelData, weightsPath: string): object {
  return {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology: data.topology,
    weightsManifest: [{ paths: [weightsPath], weights: data.weightSpecs }],
  };
}

interface LayerJson {
  class_name: string;
  config: { name?: string; activation?: string; layers?: LayerJson[]; output_layers?: [string, number, number][] };
}

/**
 * A copy of a topology whose output yields logits: an output layer with a softmax activation (Dense, Conv,
 * Activation) gets a linear one, and a Softmax layer at the output becomes a linear Activation of the same
 * name. Handles Sequential and functional models.
 */
export function logitsTopology(topology: object): object {
  const copy = structuredClone(topology) as { model_config?: LayerJson } & LayerJson;
  const model = copy.model_config ?? copy; // model.json nests the config under model_config
  const layers = model.config.layers ?? [];
  const outputName = model.config.output_layers?.[0]?.[0];
  const output = outputName ? layers.find((l) => l.config.name === outputName) : layers[layers.length - 1];
  if (output?.config.activation === 'softmax') output.config.activation = 'linear';
  if (output?.class_name === 'Softmax') {
    // A linear Activation passes its input through, and keeps the layer's name and connections.
    output.class_name = 'Activation';
    output.config = { name: output.config.name, activation: 'linear' };
  }
  return copy;
}
