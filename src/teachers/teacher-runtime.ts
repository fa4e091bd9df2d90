import { randomUUID } from 'node:crypto';
import { DistillError, messageOf } from '../errors.js';
import { type InferenceModel, type RowNormalization, layersInference } from '../infer/predictor.js';
import { UnsupportedLayerError, exportLayersToOnnx } from '../models/layers-to-onnx.js';
import { type ModelData, modelFromData, shareModel } from '../models/model-data.js';
import { loadOrt } from '../models/onnx-teacher.js';
import type { TeacherRuntime } from '../options/options.js';

/** The runtime that runs a teacher's inference, as the report records it. */
export type TeacherRuntimeUsed = 'tfjs' | 'onnxruntime';

/** A layers teacher as the workers run it, on the runtime {@link teacherOnRuntime} chose, and why. */
export interface TeacherOnRuntime {
  model: InferenceModel;
  runtime: TeacherRuntimeUsed;
  notices: string[];
}

/**
 * Decides what runs a layers teacher: tfjs, or its graph exported to ONNX (once, here) and run by
 * onnxruntime-node in each worker. 'auto' takes onnxruntime whenever it can: measured side by side through
 * the pool it labelled faster than tfjs with OpenBLAS kernels for convolutional and dense teachers alike,
 * by far the most for convolutions. 'onnxruntime' that cannot be honoured is an error naming the reason;
 * 'auto' falls back to tfjs with a notice naming it.
 */
export async function teacherOnRuntime(
  data: ModelData,
  runtime: TeacherRuntime,
  normalize: RowNormalization | undefined,
): Promise<TeacherOnRuntime> {
  const onTfjs = (notices: string[] = []): TeacherOnRuntime => ({
    model: layersInference(shareModel(data), normalize),
    runtime: 'tfjs',
    notices,
  });
  if (runtime === 'tfjs') return onTfjs();
  const cannot = (why: string): TeacherOnRuntime => {
    if (runtime === 'onnxruntime') {
      throw new DistillError(`teacherRuntime 'onnxruntime' cannot run this teacher: ${why}; use teacherRuntime 'auto' or 'tfjs'`, [
        'teacherRuntime',
      ]);
    }
    return onTfjs([`the teacher runs on tfjs: ${why} (teacherRuntime 'auto')`]);
  };
  const model = await modelFromData(data, 'the teacher');
  let exported: ReturnType<typeof exportLayersToOnnx>;
  try {
    try {
      exported = exportLayersToOnnx(model);
    } catch (error) {
      if (error instanceof UnsupportedLayerError) return cannot(`its ${error.message}`);
      throw error;
    }
  } finally {
    model.dispose();
  }
  let ort: Awaited<ReturnType<typeof loadOrt>>;
  try {
    ort = await loadOrt();
  } catch (error) {
    return cannot(messageOf(error).replace(/^ONNX teachers run on onnxruntime-node, which/, 'onnxruntime-node'));
  }
  // Opened once here, so that a graph onnxruntime rejects stops (or falls back) before any worker starts.
  try {
    const session = await ort.InferenceSession.create(exported.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    await session.release();
  } catch (error) {
    return cannot(`onnxruntime-node rejected its exported graph (${messageOf(error)})`);
  }
  const bytes = new SharedArrayBuffer(exported.bytes.byteLength);
  new Uint8Array(bytes).set(exported.bytes);
  const numClasses = exported.outputShape[exported.outputShape.length - 1];
  return {
    model: {
      kind: 'onnx',
      id: randomUUID(),
      file: 'the tfjs teacher exported to ONNX',
      model: bytes,
      inputName: exported.inputName,
      outputName: exported.outputName,
      inputShape: exported.inputShape,
      toChannelsFirst: false,
      outputKind: 'logits',
      numClasses,
      normalize,
    },
    runtime: 'onnxruntime',
    notices: ['the teacher runs on onnxruntime-node: its tfjs graph was exported to ONNX (teacherRuntime)'],
  };
}
