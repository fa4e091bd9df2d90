import { readFile } from 'node:fs/promises';
import { type OnnxMlTeacher, isOnnxMlEstimator, openOnnxMlTeacher } from '../../models/onnx-ml-teacher.js';
import type { TeacherKind } from './teacher-kind.js';

export interface OpenedOnnxMlTeacher {
  kind: 'onnx-ml';
  onnx: OnnxMlTeacher;
}

/** Whether `teacher` is an .onnx file whose graph has an ai.onnx.ml classifier, regressor or ZipMap. */
async function isOnnxMlFile(teacher: string): Promise<boolean> {
  if (!teacher.toLowerCase().endsWith('.onnx')) return false;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(teacher);
  } catch {
    // The onnx kind, next, says why the file cannot be read.
    return false;
  }
  return isOnnxMlEstimator(bytes);
}

/**
 * An .onnx classifier in the ai.onnx.ml domain (tree ensembles from skl2onnx, onnxmltools): its probabilities,
 * read in front of any ZipMap, are the teacher's output. Tried before the onnx kind, which takes other graphs
 * (networks among them that use ONNX-ML preprocessing alone).
 */
export const onnxMlTeacher: TeacherKind<OpenedOnnxMlTeacher> = {
  name: 'onnx-ml',
  label: 'ONNX-ML',
  noun: 'an ONNX-ML classifier',
  runsOn: 'onnxruntime',
  description:
    'an .onnx file with an ai.onnx.ml classifier (TreeEnsembleClassifier from scikit-learn, XGBoost, LightGBM), its probabilities read in front of any ZipMap',
  settings: { teacherEpochs: false, teacherLayout: false, teacherOutput: true, teacherRuntime: ['onnxruntime'] },
  recognises: async (teacher) => typeof teacher === 'string' && (await isOnnxMlFile(teacher)),
  async open(teacher, { train, config }) {
    const onnx = await openOnnxMlTeacher(teacher as string, {
      featureShape: train.featureShape,
      numClasses: train.numClasses,
      output: config.teacherOutput ?? undefined,
      sample: { x: train.features, rows: train.rows },
    });
    return { kind: 'onnx-ml', onnx };
  },
  inference: async ({ onnx }, _data, normalize) => ({ model: { ...onnx.spec, normalize }, runtime: 'onnxruntime', notices: [] }),
  notices: ({ onnx }) => onnx.notices,
  digest: ({ onnx }) => onnx.digest,
  size: ({ onnx }) => onnx,
};
