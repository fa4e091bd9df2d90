import { randomUUID } from 'node:crypto';
import { ClassCountMismatch, DistillError, check } from '../../errors.js';
import type { EnsembleCombination, InferenceModel } from '../../infer/predictor.js';
import { ensembleDigest } from '../fingerprint.js';
import type { TeacherRuntimeUsed } from '../teacher-runtime.js';
import type { OpenedMember, TeacherKind, TeacherModelInput } from './teacher-kind.js';

/** One member of an ensemble, as opened, with the name messages and the report give it. */
export interface EnsembleMember extends OpenedMember {
  name: string;
}

export interface OpenedEnsembleTeacher {
  kind: 'ensemble';
  members: EnsembleMember[];
  combine: EnsembleCombination;
  temperature: number;
  numClasses: number;
}

/** How messages and the report name a member: its path, or its place in the list for a model in memory. */
export function memberName(member: TeacherModelInput, index: number): string {
  return typeof member === 'string' ? member : `teacher ${index + 1} (a model in memory)`;
}

/**
 * A list of teachers, each opened as its own kind, run one after another on the same rows in every worker;
 * their logits are averaged, or their probabilities at the temperature (see combineMembers). The teacher
 * settings (normalisation, layout, output, runtime) apply to every member.
 */
export const ensembleTeacher: TeacherKind<OpenedEnsembleTeacher> = {
  name: 'ensemble',
  label: 'ensemble',
  noun: 'an ensemble',
  runsOn: "its members' runtimes",
  description: 'a list of teachers of any other kind (teacher given more than once): their logits or probabilities averaged (ensemble)',
  // Each member's own kind checks the settings it is given; the ensemble is never trained.
  settings: { teacherEpochs: false, teacherLayout: true, teacherOutput: true, teacherRuntime: ['tfjs', 'onnxruntime'] },
  composite: true,
  recognises: async (teacher) => Array.isArray(teacher),
  async open(teacher, { train, config, openMember }) {
    const given = teacher as readonly TeacherModelInput[];
    const members: EnsembleMember[] = [];
    // Every member is opened against the data; a member of another class count is named beside one that fits.
    const mismatched: { name: string; classes: number; error: ClassCountMismatch }[] = [];
    for (const [index, member] of given.entries()) {
      const name = memberName(member, index);
      try {
        members.push({ ...(await openMember(member)), name });
      } catch (error) {
        if (!(error instanceof ClassCountMismatch)) throw error;
        mismatched.push({ name, classes: error.outputClasses, error });
      }
    }
    if (mismatched.length > 0) {
      const fits = members[0];
      const other = mismatched.find((m) => m.classes !== mismatched[0].classes);
      if (!fits && !other) throw mismatched[0].error; // every member differs from the data alike: the data's error
      const [a, b] = fits ? [{ name: fits.name, classes: train.numClasses }, mismatched[0]] : [mismatched[0], other!];
      throw new DistillError(
        `the ensemble's teachers have different class counts: ${a.name} has ${a.classes}, ${b.name} has ${b.classes} ` +
          `(the data has ${train.numClasses}); give teachers of the same classes`,
        ['teacher'],
      );
    }
    return { kind: 'ensemble', members, combine: config.ensemble, temperature: config.temperature, numClasses: train.numClasses };
  },
  async inference(opened, _data, normalize, config) {
    const runs = [];
    for (const member of opened.members) {
      const run = await member.kind.inference(member.opened, undefined, normalize, config);
      check(run !== undefined, `the ensemble's teacher ${member.name} has no model to run`, ['teacher']);
      runs.push({ ...run, name: member.name });
    }
    const models: InferenceModel[] = runs.map((run) => run.model);
    // The pool's backend runs any member on tfjs: the ensemble runs on onnxruntime only when every member does.
    const runtime: TeacherRuntimeUsed = runs.every((run) => run.runtime === 'onnxruntime') ? 'onnxruntime' : 'tfjs';
    return {
      model: {
        kind: 'ensemble',
        id: randomUUID(),
        members: models,
        combine: opened.combine,
        temperature: opened.temperature,
        numClasses: opened.numClasses,
      },
      runtime,
      notices: runs.flatMap((run) => run.notices.map((notice) => `${run.name}: ${notice}`)),
    };
  },
  notices: ({ members }) => members.flatMap((m) => m.kind.notices(m.opened).map((notice) => `${m.name}: ${notice}`)),
  digest: ({ members, combine, temperature }) =>
    ensembleDigest(
      members.map((m) => m.kind.digest(m.opened, undefined)),
      combine,
      temperature,
    ),
  size(opened) {
    const sizes = opened.members.map((m) => m.kind.size(m.opened, undefined));
    if (sizes.some((size) => size === undefined)) return undefined;
    return { params: sizes.reduce((sum, s) => sum + s!.params, 0), bytes: sizes.reduce((sum, s) => sum + s!.bytes, 0) };
  },
};
