import type { SharedDataset } from '../data/shared-dataset.js';
import { DistillError, check } from '../errors.js';
import type { InferenceModel, RowNormalization } from '../infer/predictor.js';
import type { ModelData } from '../models/model-data.js';
import { readModelData } from '../models/model-files.js';
import type { TeacherRuntime } from '../options/options.js';
import { teacherDigest } from './fingerprint.js';
import { type OpenedTeacher, REGISTERED_TEACHER_KINDS, listTeacherKinds, teacherKindOf } from './kinds/registry.js';
import type { RegisteredTeacherKind, TeacherInput, TeacherModelInput, TeacherSettings } from './kinds/teacher-kind.js';
import type { TeacherOnRuntime, TeacherRuntimeUsed } from './teacher-runtime.js';

export { type OpenedTeacher, type TeacherKindListing, listTeacherKinds } from './kinds/registry.js';
export type {
  OpenedMember,
  TeacherInput,
  TeacherKind,
  TeacherKindSettings,
  TeacherModelInput,
  TeacherSettings,
} from './kinds/teacher-kind.js';
export type { EnsembleMember, OpenedEnsembleTeacher } from './kinds/ensemble.js';

/** The teacher as the run uses it: as one registered kind opened it (see kinds/registry.ts), or none (imported logits). */
export type TeacherSource = OpenedTeacher | { kind: 'none' };

/**
 * What the workers run for a teacher: its model (trained, for a layers teacher the run trained) and input
 * normalisation, on the runtime its kind picks.
 */
export async function teacherInference(
  source: TeacherSource,
  data: ModelData | undefined,
  normalize: RowNormalization | undefined,
  config: TeacherSettings,
): Promise<TeacherOnRuntime | undefined> {
  return source.kind === 'none' ? undefined : teacherKindOf(source).inference(source, data, normalize, config);
}

/** What opening the teacher found worth saying: how an ONNX or graph teacher's output is read. */
export function teacherNotices(source: TeacherSource): string[] {
  return source.kind === 'none' ? [] : teacherKindOf(source).notices(source);
}

/** The digest of the teacher's model, `data` once a layers teacher is trained; null for none. */
export function teacherModelDigest(source: TeacherSource, data?: ModelData): string | null {
  return source.kind === 'none' ? null : teacherKindOf(source).digest(source, data);
}

/** The teacher's parameters and bytes, `data` once a layers teacher is trained; undefined for none. */
export function teacherModelSize(source: TeacherSource, data?: ModelData): { params: number; bytes: number } | undefined {
  return source.kind === 'none' ? undefined : teacherKindOf(source).size(source, data);
}

/** A teacher's identity in soft-label keys: its bytes or weights, and the normalisation of its input. */
export function teacherIdentity(source: TeacherSource, data: ModelData | undefined, config: TeacherSettings): string {
  return teacherDigest(teacherModelDigest(source, data)!, teacherPreprocessing(config));
}

/**
 * What a teacher's logits depend on besides its model and the rows: the normalisation of its input, the
 * layout it is fed in and the output read. The layout and output join only when given, so that the keys of
 * stores labelled before they counted stay valid.
 */
export function teacherPreprocessing(config: Pick<TeacherSettings, 'teacherNormalize' | 'teacherLayout' | 'teacherOutput'>) {
  const { teacherNormalize, teacherLayout, teacherOutput } = config;
  if (teacherLayout === null && teacherOutput === null) return teacherNormalize ?? undefined;
  return { normalize: teacherNormalize, layout: teacherLayout, output: teacherOutput };
}

/** A teacher fed its rows as they are: no normalisation, its own layout and first output. */
export const NO_TEACHER_SETTINGS: TeacherSettings = {
  teacherEpochs: 0,
  teacherLayout: null,
  teacherOutput: null,
  teacherNormalize: null,
  teacherRuntime: 'auto',
  ensemble: 'logits',
  temperature: 4,
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
  teacher: TeacherInput,
  train: SharedDataset,
  config: TeacherSettings,
): Promise<LabellingTeacher> {
  const source = await openTeacher(teacher, train, config);
  const data = source.kind === 'layers' ? source.checked.data : undefined;
  const run = (await teacherInference(source, data, teacherNormalization(config, train.featureShape), config))!;
  return { ...run, digest: teacherIdentity(source, data, config), notices: [...teacherNotices(source), ...run.notices] };
}

/** The names of an ensemble's members, in order; undefined for a single teacher. */
export function teacherMembers(source: TeacherSource): string[] | undefined {
  return source.kind === 'ensemble' ? source.members.map((member) => member.name) : undefined;
}

/**
 * Opens a teacher as the first registered kind that recognises it, after checking the settings the kind
 * takes. A list of one is that teacher; a longer list is an ensemble, whose members open here one by one.
 */
export async function openTeacher(given: TeacherInput, train: SharedDataset, config: TeacherSettings): Promise<OpenedTeacher> {
  check(!Array.isArray(given) || given.length > 0, 'teacher is an empty list; give a teacher, or several for an ensemble', ['teacher']);
  const teacher = Array.isArray(given) && given.length === 1 ? given[0] : given;
  const openMember = async (member: TeacherModelInput) => {
    check(!Array.isArray(member), 'an ensemble member is itself a list; give the teachers as one flat list', ['teacher']);
    const opened = await openTeacher(member, train, config);
    return { opened, kind: teacherKindOf(opened) };
  };
  // A file is read once, by the first kind that asks: its format says whether it is a graph or a layers model.
  let read: Promise<ModelData | undefined> | undefined;
  const saved = () => (read ??= typeof teacher === 'string' ? readModelData(teacher) : Promise.resolve(undefined));
  for (const kind of REGISTERED_TEACHER_KINDS) {
    if (!(await kind.recognises(teacher, saved))) continue;
    checkTeacherSettings(kind, teacher, config);
    return (await kind.open(teacher, { train, config, saved, openMember })) as OpenedTeacher;
  }
  throw new DistillError(
    `no teacher kind recognises ${String(teacher)}; the kinds are ${listTeacherKinds()
      .map((k) => k.name)
      .join(', ')}`,
    ['teacher'],
  );
}

/** The teacherRuntime values, by what they do to a layers teacher. */
const RUNTIME_ROLES: Record<Exclude<TeacherRuntime, 'auto'>, string> = { tfjs: 'runs layers models', onnxruntime: 'exports layers models' };

/** Checks that the teacher settings given are ones the kind takes; each error names the setting and the fix. */
function checkTeacherSettings(kind: RegisteredTeacherKind, teacher: TeacherInput, config: TeacherSettings): void {
  const name = typeof teacher === 'string' ? teacher : 'the teacher';
  check(
    kind.settings.teacherEpochs || config.teacherEpochs === 0,
    `teacherEpochs ${config.teacherEpochs} trains the teacher, but ${kind.noun} (${name}) runs as given; set teacherEpochs to 0`,
    ['teacherEpochs'],
  );
  if (kind.composite) return;
  for (const setting of ['teacherLayout', 'teacherOutput'] as const) {
    const takers = REGISTERED_TEACHER_KINDS.filter((other) => other.settings[setting] && !other.composite).map((other) => other.label);
    check(
      kind.settings[setting] || config[setting] === null,
      `${setting} applies to ${takers.slice(0, -1).join(', ')}${takers.length > 1 ? ' and ' : ''}${takers.at(-1)} teachers; drop it for ${kind.noun}`,
      [setting],
    );
  }
  const runtime = config.teacherRuntime;
  check(
    runtime === 'auto' || kind.settings.teacherRuntime.includes(runtime),
    `teacherRuntime '${runtime}' ${RUNTIME_ROLES[runtime as keyof typeof RUNTIME_ROLES]}, but ${name} is ${kind.noun}, which runs on ${kind.runsOn}; drop teacherRuntime`,
    ['teacherRuntime'],
  );
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
