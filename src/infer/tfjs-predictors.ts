// The predictors that run tfjs models, imported on first use: a thread that runs only onnxruntime models
// never loads tfjs.
import tf from '../tf.cjs';
import { type GraphTeacherSpec, graphModelFromData } from '../models/graph-teacher.js';
import { type SharedModelHandle, modelFromShared } from '../models/model-data.js';
import { modelInputShape } from '../models/model-shape.js';
import type { Predictor, RowNormalization } from './predictor.js';
import { prepareRows } from './prepare-rows.js';
import { readAndDispose } from '../tensor-values.js';

export async function layersPredictor(handle: SharedModelHandle, normalize: RowNormalization | undefined): Promise<Predictor> {
  const model = await modelFromShared(handle);
  const inputShape = modelInputShape(model, 'model');
  return {
    // The model's output for the whole batch in one pass. Not predict(): it cuts its input into batches
    // of 32 (slicing copies each), which runs large models at a fraction of one pass's speed.
    async logits(x, rows) {
      const input = prepareRows(x, rows, normalize);
      return readAndDispose<Float32Array>(
        tf.tidy(() => model.apply(tf.tensor(input, [rows, ...inputShape]), { training: false }) as tf.Tensor),
      );
    },
    dispose: () => model.dispose(),
  };
}

export async function graphPredictor(spec: GraphTeacherSpec & { normalize?: RowNormalization }): Promise<Predictor> {
  const model = await graphModelFromData({ ...spec, weights: new Uint8Array(spec.weights).slice().buffer }, 'the teacher');
  return {
    async logits(x, rows) {
      const input = prepareRows(x, rows, spec.normalize);
      return readAndDispose<Float32Array>(
        tf.tidy(() => model.execute(tf.tensor(input, [rows, ...spec.inputShape]), spec.outputNode) as tf.Tensor),
      );
    },
    dispose: () => model.dispose(),
  };
}
