import { type GraphTeacher, openGraphTeacher } from '../../models/graph-teacher.js';
import { modelDigest } from '../fingerprint.js';
import type { TeacherKind } from './teacher-kind.js';

export interface OpenedGraphTeacher {
  kind: 'graph-model';
  graph: GraphTeacher;
  digest: string;
}

/** tfjs-converter output (a model.json of format graph-model), run by tfjs as given. */
export const graphModelTeacher: TeacherKind<OpenedGraphTeacher> = {
  name: 'graph-model',
  label: 'graph-model',
  noun: 'a graph model',
  runsOn: 'tfjs',
  description: 'a tfjs-converter model.json (format graph-model, e.g. from a TensorFlow SavedModel), run by tfjs',
  settings: { teacherEpochs: false, teacherLayout: false, teacherOutput: true, teacherRuntime: ['tfjs'] },
  recognises: async (teacher, saved) => typeof teacher === 'string' && (await saved())?.format === 'graph-model',
  async open(teacher, { train, config, saved }) {
    const data = (await saved())!;
    const graph = await openGraphTeacher(data, teacher as string, {
      featureShape: train.featureShape,
      numClasses: train.numClasses,
      output: config.teacherOutput ?? undefined,
    });
    return { kind: 'graph-model', graph, digest: modelDigest(data) };
  },
  inference: async ({ graph }, _data, normalize) => ({ model: { ...graph.spec, normalize }, runtime: 'tfjs', notices: [] }),
  notices: ({ graph }) => graph.notices,
  digest: ({ digest }) => digest,
  size: ({ graph }) => graph,
};
