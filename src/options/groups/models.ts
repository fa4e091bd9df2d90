/** The teacher group (the teacher and how its input and output are read) and the student group. */
import { check } from '../../errors.js';
import { ENSEMBLE_COMBINATIONS } from '../../infer/predictor.js';
import { listArchitectures } from '../../models/architectures.js';
import { isPlainObject } from '../../known-keys.js';
import { CLI_MODEL_DEFAULTS, TEACHER_RUNTIMES, defineOptions, oneOf, stringOrNull } from '../schema.js';

/** A model option: a path (or, on the CLI, an architecture), or a model object; a config file's mapping is neither. */
const modelCheck = (key: string) => (value: unknown) =>
  value === null || isModel(value) ? undefined : `${key} must be a string, got ${JSON.stringify(value)}`;

const isModel = (value: unknown) =>
  typeof value === 'string' || (typeof value === 'object' && value !== null && !isPlainObject(value) && !Array.isArray(value));

/** The teacher: one model, or a non-empty list of them (an ensemble). */
const teacherCheck = (value: unknown) =>
  value === null || isModel(value) || (Array.isArray(value) && value.length > 0 && value.every(isModel))
    ? undefined
    : `teacher must be a path, a model or a non-empty list of them (an ensemble), got ${JSON.stringify(value)}`;

/** --teacher-normalize MEANS:STDS, each a comma-separated list (one value per channel, or one for all). */
function parseNormalize(value: string): { mean: number[]; std: number[] } {
  const halves = value.split(':');
  const list = (text: string | undefined) => (text ?? '').split(',').map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
  const [mean, std] = [list(halves[0]), list(halves[1])];
  check(
    halves.length === 2 && mean.every(Number.isFinite) && std.every((s) => Number.isFinite(s) && s > 0),
    `--teacher-normalize expects MEANS:STDS, e.g. 0.2860:0.3530 or 0.485,0.456,0.406:0.229,0.224,0.225, got '${value}'`,
  );
  return { mean, std };
}

/** --teacher PATH and --teacher-arch SPEC (likewise the student's) set one option: only one may be given. */
const oneOfBoth = (model: 'teacher' | 'student') => (value: string, flags: Readonly<Record<string, unknown>>) => {
  // An ensemble is of given teachers only: the run trains a teacher it builds, never a member of a list.
  const several = model === 'teacher' ? ' (several for an ensemble)' : '';
  check(!(flags[model] && flags[`${model}-arch`]), `give --${model} PATH${several} or --${model}-arch SPEC, not both`);
  return value;
};

/**
 * The model families a run can build, as --help and the reference list them (see models/architectures/).
 * The text families take token-id rows, which data text:FILE gives: they are named as such.
 */
const ARCHITECTURE_USAGES = [
  listArchitectures()
    .filter(({ rows }) => rows !== 'tokens')
    .map(({ usage }) => usage)
    .join(', '),
  `for text (token-id rows, data text:FILE) ${listArchitectures()
    .filter(({ rows }) => rows === 'tokens')
    .map(({ usage }) => usage)
    .join(', ')}`,
].join('; ');

export const MODEL_OPTIONS = defineOptions({
  teacher: {
    group: 'teacher',
    description:
      'the teacher: a tfjs model, a saved model.json (or its folder; layers or graph model), an ONNX file (.onnx, run by onnxruntime-node), ' +
      'or a Hugging Face export folder (model.onnx or onnx/model.onnx; text: its tokenizer, id2label and positions); ' +
      'a list of them (--teacher repeated) is an ensemble, see ensemble',
    shownDefault:
      `none; the CLI builds ${CLI_MODEL_DEFAULTS.teacherForImages} for image rows, ${CLI_MODEL_DEFAULTS.teacherForVectors} ` +
      `for feature vectors, ${CLI_MODEL_DEFAULTS.teacherForTokens} for text`,
    check: teacherCheck,
    flags: [
      {
        name: 'teacher',
        value: 'string',
        arg: 'PATH',
        multiple: true,
        parse: oneOfBoth('teacher'),
        help:
          'load the teacher: a tfjs model.json (or its folder), an ONNX file (.onnx, needs onnxruntime-node) or a Hugging Face export folder; ' +
          'given again, an ensemble of them (see --ensemble)',
        shownDefault: '',
      },
      {
        name: 'teacher-arch',
        value: 'string',
        arg: 'SPEC',
        parse: oneOfBoth('teacher'),
        help: `build the teacher (seeded by --seed): ${ARCHITECTURE_USAGES}`,
        shownDefault:
          `${CLI_MODEL_DEFAULTS.teacherForImages} for image rows, ${CLI_MODEL_DEFAULTS.teacherForVectors} for feature vectors ` +
          `(CSV, NPY [rows, features]), ${CLI_MODEL_DEFAULTS.teacherForTokens} for text`,
      },
    ],
  },
  ensemble: {
    group: 'teacher',
    description:
      'how an ensemble (teacher given more than once) combines its teachers: logits, the mean of their logits; probabilities, ' +
      'the mean of their probabilities at temperature (stored as T log(mean), so softmax at T gives the mean back)',
    default: 'logits',
    check: oneOf('ensemble', ENSEMBLE_COMBINATIONS),
    flags: [{ name: 'ensemble', value: 'string', arg: 'MODE' }],
  },
  teacherNormalize: {
    group: 'teacher',
    description:
      "the teacher's input only: (x - mean) / std per channel, after pixels are scaled to [0, 1], " +
      'e.g. 0.2860:0.3530 or 0.485,0.456,0.406:0.229,0.224,0.225',
    default: null,
    keys: { mean: null, std: null },
    check: (normalize) =>
      normalize === null ||
      (Array.isArray(normalize.mean) &&
        Array.isArray(normalize.std) &&
        normalize.mean.length > 0 &&
        normalize.std.length > 0 &&
        normalize.mean.every(Number.isFinite) &&
        normalize.std.every((s) => Number.isFinite(s) && s > 0))
        ? undefined
        : 'teacherNormalize needs { mean: number[], std: number[] } with finite means and positive stds, one per channel or one for all',
    flags: [{ name: 'teacher-normalize', value: 'string', arg: 'MEANS:STDS', parse: parseNormalize }],
  },
  teacherLayout: {
    group: 'teacher',
    description: 'ONNX teacher input layout: nchw or nhwc',
    default: null,
    shownDefault: 'read from its input shape',
    check: (value) =>
      value === null || value === 'nchw' || value === 'nhwc' ? undefined : `teacherLayout '${value}' is not one of nchw, nhwc`,
    flags: [{ name: 'teacher-layout', value: 'string', arg: 'L' }],
  },
  teacherOutput: {
    group: 'teacher',
    description: "ONNX teacher: the output to read (an ONNX-ML classifier's ZipMap output names the probabilities it wraps)",
    default: null,
    shownDefault: 'the first (text: logits, if there is one; an ONNX-ML classifier: its probabilities)',
    check: stringOrNull('teacherOutput'),
    flags: [{ name: 'teacher-output', value: 'string', arg: 'NAME' }],
  },
  teacherRuntime: {
    group: 'teacher',
    description:
      "what runs a tfjs teacher's inference: auto, tfjs or onnxruntime (exported to ONNX, needs onnxruntime-node); " +
      'auto: onnxruntime when it loads and every layer exports, else tfjs',
    default: 'auto',
    check: oneOf('teacherRuntime', TEACHER_RUNTIMES),
    flags: [{ name: 'teacher-runtime', value: 'string', arg: 'R' }],
  },
  student: {
    group: 'student',
    description: 'the student: a tfjs model or a saved model.json (or its folder); its weights are the starting point',
    shownDefault: `none; the CLI builds ${CLI_MODEL_DEFAULTS.student}, ${CLI_MODEL_DEFAULTS.studentForTokens} for text`,
    check: modelCheck('student'),
    flags: [
      {
        name: 'student',
        value: 'string',
        arg: 'PATH',
        parse: oneOfBoth('student'),
        help: 'load the student (its weights are the starting point)',
        shownDefault: '',
      },
      {
        name: 'student-arch',
        value: 'string',
        arg: 'SPEC',
        parse: oneOfBoth('student'),
        help: `build the student: ${ARCHITECTURE_USAGES}`,
        shownDefault: `${CLI_MODEL_DEFAULTS.student}, ${CLI_MODEL_DEFAULTS.studentForTokens} for text`,
      },
    ],
  },
});
