import { layersModelSize } from '../../infer/evaluate.js';
import { type CheckedModel, modelAsData } from '../../models/checked-model.js';
import { modelDigest } from '../fingerprint.js';
import { teacherOnRuntime } from '../teacher-runtime.js';
import type { TeacherKind, TeacherModelInput } from './teacher-kind.js';

export interface OpenedLayersTeacher {
  kind: 'layers';
  checked: CheckedModel;
}

/** A tfjs layers model (model.json or in memory): the one kind a run can train, and run on tfjs or onnxruntime. */
export const layersTeacher: TeacherKind<OpenedLayersTeacher> = {
  name: 'layers',
  label: 'layers',
  noun: 'a layers model',
  runsOn: 'tfjs or onnxruntime',
  description: 'a tfjs layers model (a model.json, or a LayersModel in memory); the run may train it (teacherEpochs)',
  settings: { teacherEpochs: true, teacherLayout: false, teacherOutput: false, teacherRuntime: ['tfjs', 'onnxruntime'] },
  // Tried last: whatever the other kinds leave is loaded as a layers model, whose loader names what is wrong.
  recognises: async () => true,
  open: async (teacher, { train, saved }) => ({
    kind: 'layers',
    checked: await modelAsData(teacher as TeacherModelInput, 'teacher', train, await saved()),
  }),
  inference: async ({ checked }, data, normalize, config) => teacherOnRuntime(data ?? checked.data, config.teacherRuntime, normalize),
  notices: () => [],
  digest: ({ checked }, data) => modelDigest(data ?? checked.data),
  size: ({ checked }, data) => layersModelSize(data ?? checked.data),
};
