import type * as tf from '@tensorflow/tfjs';
import type { SharedDataset } from '../../data/shared-dataset.js';
import type { RowNormalization } from '../../infer/predictor.js';
import type { ModelData } from '../../models/model-data.js';
import type { DistillConfig, TeacherRuntime } from '../../options/options.js';
import type { TeacherOnRuntime } from '../teacher-runtime.js';

/** The settings that say how a teacher is opened and fed. */
export type TeacherSettings = Pick<
  DistillConfig,
  'teacherEpochs' | 'teacherLayout' | 'teacherOutput' | 'teacherNormalize' | 'teacherRuntime' | 'ensemble' | 'temperature'
>;

/** One teacher model: a file (or folder) path, or a model in memory. */
export type TeacherModelInput = tf.LayersModel | string;

/** A teacher as the `teacher` option gives it: one model, or a list of them (an ensemble, see kinds/ensemble.ts). */
export type TeacherInput = TeacherModelInput | readonly TeacherModelInput[];

/** A teacher one kind opened, with that kind: what an ensemble holds of each member. */
export interface OpenedMember {
  opened: { kind: string };
  kind: RegisteredTeacherKind;
}

/** What a kind opens a teacher with. */
export interface TeacherOpening {
  train: SharedDataset;
  config: TeacherSettings;
  /** The teacher's model.json and weights, read once for every kind that asks; undefined for a model in memory. */
  saved(): Promise<ModelData | undefined>;
  /** Opens one model of a list as openTeacher opens a teacher (an ensemble's members). */
  openMember(member: TeacherModelInput): Promise<OpenedMember>;
}

/** The teacher settings beyond teacherNormalize (which every kind takes) that a kind accepts. */
export interface TeacherKindSettings {
  /** Whether the run may train it (teacherEpochs > 0). */
  teacherEpochs: boolean;
  teacherLayout: boolean;
  teacherOutput: boolean;
  /** The teacherRuntime values it takes besides 'auto'. */
  teacherRuntime: readonly Exclude<TeacherRuntime, 'auto'>[];
}

/**
 * One kind of teacher. `O` is the teacher as opened, `{ kind: <name>, ... }`, which the pipeline carries
 * (see TeacherSource); the kind's methods get it back.
 */
export interface TeacherKind<O extends { kind: string }> {
  name: O['kind'];
  /** How messages name it: `ONNX`, `graph-model`. */
  label: string;
  /** A teacher of the kind, in a sentence: `an ONNX teacher`. */
  noun: string;
  /** What runs it, in a sentence: `onnxruntime`. */
  runsOn: string;
  /** One line, for --help and the docs, saying how a teacher is recognised as this kind. */
  description: string;
  settings: TeacherKindSettings;
  /** A kind made of other teachers (an ensemble): each member's kind checks the settings; listings of who takes a setting leave it out. */
  composite?: boolean;
  /** Whether `teacher` is of this kind; kinds are tried in registry order, the first that recognises it opens it. */
  recognises(teacher: TeacherInput, saved: () => Promise<ModelData | undefined>): Promise<boolean>;
  open(teacher: TeacherInput, opening: TeacherOpening): Promise<O>;
  /** What the workers run: `data` is a layers teacher's (trained) model, undefined for other kinds. */
  inference(
    opened: O,
    data: ModelData | undefined,
    normalize: RowNormalization | undefined,
    config: TeacherSettings,
  ): Promise<TeacherOnRuntime | undefined>;
  /** What opening it found worth saying (how its output is read). */
  notices(opened: O): string[];
  /** Its model's identity in soft-label keys and checkpoints (a layers teacher's `data` once trained). */
  digest(opened: O, data: ModelData | undefined): string;
  /** Its parameters and bytes, for the report. */
  size(opened: O, data: ModelData | undefined): { params: number; bytes: number } | undefined;
}

/** Any registered kind, as code that dispatches on it sees it. */
export type RegisteredTeacherKind = TeacherKind<{ kind: string }>;
