import { type OnnxTeacher, openOnnxTeacher } from '../../models/onnx-teacher.js';
import type { TeacherKind } from './teacher-kind.js';

export interface OpenedOnnxTeacher {
  kind: 'onnx';
  onnx: OnnxTeacher;
}

/** An .onnx file, run by onnxruntime-node in every worker, as given. */
export const onnxTeacher: TeacherKind<OpenedOnnxTeacher> = {
  name: 'onnx',
  label: 'ONNX',
  noun: 'an ONNX teacher',
  runsOn: 'onnxruntime',
  description: 'an .onnx file (e.g. exported from PyTorch or Keras), run by onnxruntime-node in every worker',
  settings: { teacherEpochs: false, teacherLayout: true, teacherOutput: true, teacherRuntime: ['onnxruntime'] },
  recognises: async (teacher) => typeof teacher === 'string' && teacher.toLowerCase().endsWith('.onnx'),
  async open(teacher, { train, config }) {
    const onnx = await openOnnxTeacher(teacher as string, {
      featureShape: train.featureShape,
      numClasses: train.numClasses,
      layout: config.teacherLayout ?? undefined,
      output: config.teacherOutput ?? undefined,
    });
    return { kind: 'onnx', onnx };
  },
  inference: async ({ onnx }, _data, normalize) => ({ model: { ...onnx.spec, normalize }, runtime: 'onnxruntime', notices: [] }),
  notices: ({ onnx }) => onnx.notices,
  digest: ({ onnx }) => onnx.digest,
  size: ({ onnx }) => onnx,
};
