import { check } from '../../errors.js';
import { type OnnxTeacher, openOnnxTeacher } from '../../models/onnx-teacher.js';
import { isOnnxExport, onnxModelIn, readHuggingFaceExport } from '../hugging-face-export.js';
import type { TeacherKind } from './teacher-kind.js';

export interface OpenedOnnxTeacher {
  kind: 'onnx';
  onnx: OnnxTeacher;
}

/**
 * An .onnx file, or a Hugging Face export folder (model.onnx or onnx/model.onnx, config.json, the tokenizer),
 * run by onnxruntime-node in every worker, as given. On token-id rows it is a text classifier, fed by input name.
 */
export const onnxTeacher: TeacherKind<OpenedOnnxTeacher> = {
  name: 'onnx',
  label: 'ONNX',
  noun: 'an ONNX teacher',
  runsOn: 'onnxruntime',
  description:
    'an .onnx file (e.g. exported from PyTorch or Keras) or a Hugging Face export folder (model.onnx or onnx/model.onnx), ' +
    'run by onnxruntime-node in every worker',
  settings: { teacherEpochs: false, teacherLayout: true, teacherOutput: true, teacherRuntime: ['onnxruntime'] },
  recognises: async (teacher) => typeof teacher === 'string' && isOnnxExport(teacher),
  async open(teacher, { train, config }) {
    const path = teacher as string;
    const rows = train.tokens;
    // A text teacher's folder says how its input was made (positions); other rows need only the graph.
    const exported = rows ? readHuggingFaceExport(path) : undefined;
    const model = exported?.model ?? (path.toLowerCase().endsWith('.onnx') ? path : onnxModelIn(path)!);
    if (rows) {
      for (const setting of ['teacherLayout', 'teacherNormalize'] as const) {
        check(config[setting] === null, `${setting} applies to image and feature rows, not to a text teacher's token ids; drop it`, [
          setting,
        ]);
      }
    }
    const onnx = await openOnnxTeacher(model, {
      featureShape: train.featureShape,
      numClasses: train.numClasses,
      layout: config.teacherLayout ?? undefined,
      output: config.teacherOutput ?? undefined,
      text: rows && { rows, features: train.features, positions: exported?.positions },
    });
    return { kind: 'onnx', onnx };
  },
  inference: async ({ onnx }, _data, normalize) => ({ model: { ...onnx.spec, normalize }, runtime: 'onnxruntime', notices: [] }),
  notices: ({ onnx }) => onnx.notices,
  digest: ({ onnx }) => onnx.digest,
  size: ({ onnx }) => onnx,
};
