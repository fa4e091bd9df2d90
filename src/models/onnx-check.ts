// Checking an exported ONNX model against the tfjs model it came from: both run on the same rows, the
// ONNX model by onnxruntime-node from its bytes as a service would load them, and their logits compared.
import tf from '../tf.cjs';
import { type Dataset, featureShape, holdsPixels, rowCount, rowSize } from '../data/dataset.js';
import { DistillError, check, messageOf } from '../errors.js';
import { loadOrt } from './onnx-teacher.js';
import { readAndDispose } from '../tensor-values.js';

/** How an ONNX model did on labelled rows next to the tfjs model it was exported from. */
export interface OnnxCheck {
  /** Rows compared. */
  rows: number;
  /** The largest absolute difference between an ONNX logit and tfjs's, over every row and class. */
  maxAbsLogitDiff: number;
  /** Fraction of rows whose top-1 class under onnxruntime is tfjs's. */
  agreement: number;
  /** Top-1 accuracy of the ONNX model on the rows, in [0, 1]. */
  accuracy: number;
  /** Top-1 accuracy of the tfjs model on the same rows. */
  tfjsAccuracy: number;
}

/** Index of the largest of `count` values from `offset`; the first wins a tie, as tfjs's argMax. */
function argMax(values: ArrayLike<number>, offset: number, count: number): number {
  let best = 0;
  for (let c = 1; c < count; c++) if (values[offset + c] > values[offset + best]) best = c;
  return best;
}

/**
 * Runs `onnx` (the bytes of a model exported by exportLayersToOnnx, input `inputName`, output `outputName`)
 * with onnxruntime-node and `model` with tfjs on the labelled `rows`, in batches, and compares their logits.
 * uint8 rows are scaled by 1/255 for both, as a run feeds the student.
 */
export async function checkOnnxAgainstTfjs(
  model: tf.LayersModel,
  onnx: { bytes: Uint8Array; inputName: string; outputName: string },
  rows: Dataset,
  batchSize = 256,
): Promise<OnnxCheck> {
  const count = rowCount(rows);
  check(count > 0, 'there are no test rows to check the ONNX export on; give a test split with rows', ['export']);
  const ort = await loadOrt();
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(onnx.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (error) {
    throw new DistillError(`onnxruntime-node cannot load the exported model: ${messageOf(error)}`, ['export']);
  }
  const size = rowSize(rows);
  const shape = featureShape(rows);
  let maxAbsLogitDiff = 0;
  let same = 0;
  let onnxRight = 0;
  let tfjsRight = 0;
  try {
    for (let start = 0; start < count; start += batchSize) {
      const end = Math.min(count, start + batchSize);
      const features = Float32Array.from(rows.x.subarray(start * size, end * size));
      if (holdsPixels(rows)) for (let i = 0; i < features.length; i++) features[i] /= 255;
      const expected = readAndDispose(tf.tidy(() => model.predict(tf.tensor(features, [end - start, ...shape])) as tf.Tensor));
      const out = await session.run({ [onnx.inputName]: new ort.Tensor('float32', features, [end - start, ...shape]) });
      const got = out[onnx.outputName].data as Float32Array;
      check(
        got.length === expected.length,
        `the exported model gives ${got.length} logits for a batch where tfjs gives ${expected.length}`,
      );
      const classes = expected.length / (end - start);
      for (let i = 0; i < got.length; i++) maxAbsLogitDiff = Math.max(maxAbsLogitDiff, Math.abs(got[i] - expected[i]));
      for (let r = 0; r < end - start; r++) {
        const onnxClass = argMax(got, r * classes, classes);
        const tfjsClass = argMax(expected, r * classes, classes);
        const label = rows.y[start + r];
        if (onnxClass === tfjsClass) same++;
        if (onnxClass === label) onnxRight++;
        if (tfjsClass === label) tfjsRight++;
      }
    }
  } finally {
    await session.release();
  }
  return { rows: count, maxAbsLogitDiff, agreement: same / count, accuracy: onnxRight / count, tfjsAccuracy: tfjsRight / count };
}
