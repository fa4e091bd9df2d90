import type * as tf from '@tensorflow/tfjs';
import type { SharedDataset } from '../data/shared-dataset.js';
import { check } from '../errors.js';
import type { InferenceModel, RowNormalization } from '../infer/predictor.js';
import { type CheckedModel, modelAsData } from '../models/checked-model.js';
import { type GraphTeacher, openGraphTeacher } from '../models/graph-teacher.js';
import type { ModelData } from '../models/model-data.js';
import { readModelData } from '../models/model-files.js';
import { type OnnxTeacher, openOnnxTeacher } from '../models/onnx-teacher.js';
import type { DistillConfig } from '../options/options.js';
import { modelDigest, teacherDigest } from './fingerprint.js';
import { type TeacherOnRuntime, type TeacherRuntimeUsed, teacherOnRuntime } from './teacher-runtime.js';

/** The teacher as the run uses it: a layers model (which the run may train), an ONNX file, or none (imported logits). */
export type TeacherSource =
  | { kind: 'layers'; checked: CheckedModel }
  | { kind: 'onnx'; onnx: OnnxTeacher }
  | { kind: 'graph'; graph: GraphTeacher; digest: string }
  | { kind: 'none' };

/** The settings that say how a teacher is opened and fed. */
export type TeacherSettings = Pick<
  DistillConfig,
  'teacherEpochs' | 'teacherLayout' | 'teacherOutput' | 'teacherNormalize' | 'teacherRuntime'
>;

/**
 * What the workers run for a teacher: its model (trained, for a layers teacher the run trained) and input
 * normalisation, on the runtime teacherRuntime picks for a layers teacher.
 */
export async function teacherInference(
  source: TeacherSource,
  data: ModelData | undefined,
  normalize: RowNormalization | undefined,
  config: TeacherSettings,
): Promise<TeacherOnRuntime | undefined> {
  if (source.kind === 'onnx') return { model: { ...source.onnx.spec, normalize }, runtime: 'onnxruntime', notices: [] };
  if (source.kind === 'graph') return { model: { ...source.graph.spec, normalize }, runtime: 'tfjs', notices: [] };
  return data && teacherOnRuntime(data, config.teacherRuntime, normalize);
}

/** What opening the teacher found worth saying: how an ONNX or graph teacher's output is read. */
export function teacherNotices(source: TeacherSource): string[] {
  return source.kind === 'onnx' ? source.onnx.notices : source.kind === 'graph' ? source.graph.notices : [];
}

/** A teacher's identity in soft-label keys: its bytes or weights, and the normalisation of its input. */
export function teacherIdentity(source: TeacherSource, data: ModelData | undefined, config: TeacherSettings): string {
  const model = source.kind === 'onnx' ? source.onnx.digest : source.kind === 'graph' ? source.digest : modelDigest(data!);
  return teacherDigest(model, config.teacherNormalize ?? undefined);
}

/** A teacher fed its rows as they are: no normalisation, its own layout and first output. */
export const NO_TEACHER_SETTINGS: TeacherSettings = {
  teacherEpochs: 0,
  teacherLayout: null,
  teacherOutput: null,
  teacherNormalize: null,
  teacherRuntime: 'auto',
};

/** A teacher opened for labelling alone (label, the queue): what the workers run, and its identity. */
export interface LabellingTeacher {
  model: InferenceModel;
  digest: string;
  /** What runs it, and the notices of that choice (a fallback to tfjs and why). */
  runtime: TeacherRuntimeUsed;
  notices: string[];
}

/** Opens any teacher kind for labelling `train`, as `distill` would label with it. */
export async function openLabellingTeacher(
  teacher: tf.LayersModel | string,
  train: SharedDataset,
  config: TeacherSettings,
): Promise<LabellingTeacher> {
  const source = await openTeacher(teacher, train, config);
  const data = source.kind === 'layers' ? source.checked.data : undefined;
  const run = (await teacherInference(source, data, teacherNormalization(config, train.featureShape), config))!;
  return { ...run, digest: teacherIdentity(source, data, config), notices: [...teacherNotices(source), ...run.notices] };
}

export async function openTeacher(teacher: tf.LayersModel | string, train: SharedDataset, config: TeacherSettings): Promise<TeacherSource> {
  if (typeof teacher === 'string' && teacher.toLowerCase().endsWith('.onnx')) {
    check(
      config.teacherEpochs === 0,
      `teacherEpochs ${config.teacherEpochs} trains the teacher, but an ONNX teacher (${teacher}) runs as given; set teacherEpochs to 0`,
      ['teacherEpochs'],
    );
    check(
      config.teacherRuntime !== 'tfjs',
      `teacherRuntime 'tfjs' runs layers models, but ${teacher} is an ONNX teacher, which runs on onnxruntime; drop teacherRuntime`,
      ['teacherRuntime'],
    );
    const onnx = await openOnnxTeacher(teacher, {
      featureShape: train.featureShape,
      numClasses: train.numClasses,
      layout: config.teacherLayout ?? undefined,
      output: config.teacherOutput ?? undefined,
    });
    return { kind: 'onnx', onnx };
  }
  // A file is read once: its format says whether it is a graph or a layers model.
  const saved = typeof teacher === 'string' ? await readModelData(teacher) : undefined;
  if (typeof teacher === 'string' && saved?.format === 'graph-model') {
    check(
      config.teacherEpochs === 0,
      `teacherEpochs ${config.teacherEpochs} trains the teacher, but a graph model (${teacher}) runs as given; set teacherEpochs to 0`,
      ['teacherEpochs'],
    );
    check(config.teacherLayout === null, 'teacherLayout applies to ONNX teachers; a graph model takes NHWC rows', ['teacherLayout']);
    check(
      config.teacherRuntime !== 'onnxruntime',
      `teacherRuntime 'onnxruntime' exports layers models, but ${teacher} is a graph model, which runs on tfjs; drop teacherRuntime`,
      ['teacherRuntime'],
    );
    const graph = await openGraphTeacher(saved, teacher, {
      featureShape: train.featureShape,
      numClasses: train.numClasses,
      output: config.teacherOutput ?? undefined,
    });
    return { kind: 'graph', graph, digest: modelDigest(saved) };
  }
  check(
    config.teacherLayout === null && config.teacherOutput === null,
    'teacherLayout and teacherOutput apply to ONNX and graph-model teachers; drop them for a layers model',
    ['teacherLayout', 'teacherOutput'],
  );
  return { kind: 'layers', checked: await modelAsData(teacher, 'teacher', train, saved) };
}

/** teacherNormalize for rows of `featureShape`: one value per channel (the last axis of an image row), or one for all. */
export function teacherNormalization(config: TeacherSettings, featureShape: number[]): RowNormalization | undefined {
  const normalize = config.teacherNormalize;
  if (!normalize) return undefined;
  const channels = featureShape.length === 3 ? featureShape[2] : 1;
  const lengthFits = (values: number[]) => values.length === 1 || values.length === channels;
  check(
    lengthFits(normalize.mean) && lengthFits(normalize.std),
    `teacherNormalize has ${normalize.mean.length} means and ${normalize.std.length} stds, but the rows [${featureShape}] have ` +
      `${channels} channel${channels === 1 ? '' : 's'}: give one value per channel, or one for all`,
    ['teacherNormalize'],
  );
  return { ...normalize, channels };
}
