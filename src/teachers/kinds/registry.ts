// To add a teacher kind: create a file in this folder exporting a TeacherKind<{ kind: 'your-name'; ... }> (see
// teacher-kind.ts; onnx.ts is a small one), and add it to TEACHER_KINDS below, before any kind that would also
// recognise its teachers (layers, last, takes whatever is left). openTeacher, its settings checks,
// TeacherSource and the listings then know it.
import { ensembleTeacher } from './ensemble.js';
import { graphModelTeacher } from './graph-model.js';
import { layersTeacher } from './layers.js';
import { onnxTeacher } from './onnx.js';
import { onnxMlTeacher } from './onnx-ml.js';
import type { RegisteredTeacherKind, TeacherKind, TeacherKindSettings } from './teacher-kind.js';

/** Every teacher kind, in the order openTeacher tries them. */
export const TEACHER_KINDS = [ensembleTeacher, onnxMlTeacher, onnxTeacher, graphModelTeacher, layersTeacher] as const;

type OpenedOf<K> = K extends TeacherKind<infer O> ? O : never;

/** A teacher as a registered kind opened it. */
export type OpenedTeacher = OpenedOf<(typeof TEACHER_KINDS)[number]>;

/** TEACHER_KINDS, as code that dispatches on them sees them. */
export const REGISTERED_TEACHER_KINDS: readonly RegisteredTeacherKind[] = TEACHER_KINDS;

/** The kind that opened a teacher. */
export function teacherKindOf(opened: { kind: string }): RegisteredTeacherKind {
  const kind = REGISTERED_TEACHER_KINDS.find((candidate) => candidate.name === opened.kind);
  if (!kind) throw new Error(`no teacher kind is registered as '${opened.kind}'`);
  return kind;
}

/** One kind as listings show it (--help, docs, errors). */
export interface TeacherKindListing {
  name: string;
  description: string;
  settings: TeacherKindSettings;
}

/** Every registered teacher kind, for --help, generated docs and errors. */
export function listTeacherKinds(): TeacherKindListing[] {
  return REGISTERED_TEACHER_KINDS.map(({ name, description, settings }) => ({ name, description, settings }));
}
