import tf from '../tf.cjs';
import type { SharedDataset } from '../data/shared-dataset.js';
import { check } from '../errors.js';
import { type ModelData, modelFromData, modelToData } from './model-data.js';
import { readModelData } from './model-files.js';
import { checkModelFitsData } from './model-shape.js';
import { forwardMultiplyAdds } from './multiply-adds.js';

/** A model as data, checked against the data, with the length of the gradient the ranks average. */
export interface CheckedModel {
  data: ModelData;
  trainableParams: number;
  /** Multiply-adds of one row's forward pass (see forwardMultiplyAdds): how much a training step computes per row. */
  multiplyAdds: number;
}

export async function modelAsData(
  model: tf.LayersModel | string,
  role: string,
  train: SharedDataset,
  /** The file's contents when the caller already read them. */
  read?: ModelData,
): Promise<CheckedModel> {
  const saved = typeof model === 'string' ? (read ?? (await readModelData(model))) : undefined;
  check(
    saved?.format !== 'graph-model',
    `${model} is a graph model (tfjs-converter output): it can be a teacher, but the ${role} must be a layers model it can train`,
    [role],
  );
  const instance = typeof model === 'string' ? await modelFromData(saved!, model) : model;
  checkModelFitsData(instance, role, train.featureShape, train.numClasses);
  const data = await modelToData(instance);
  const trainableParams = instance.trainableWeights.reduce((sum, w) => sum + tf.util.sizeFromShape(w.shape as number[]), 0);
  const multiplyAdds = forwardMultiplyAdds(instance);
  if (typeof model === 'string') instance.dispose();
  return { data, trainableParams, multiplyAdds };
}
