/** The training group: epochs, batches, the distillation objective, validation and model selection. */
import { check } from '../../errors.js';
import { DISTILLATION_LOSSES, lossOptionProblem } from '../../train/losses.js';
import type { NonFinitePolicy, SelectionMetric } from '../../train/replica.js';
import { CLI_MODEL_DEFAULTS, type OptionRule, defineOptions, isInt, isNumber, oneOf, stringOrNull } from '../schema.js';

const NON_FINITE_POLICIES: readonly NonFinitePolicy[] = ['abort', 'skip'];
const SELECTION_METRICS: readonly SelectionMetric[] = ['accuracy', 'loss'];
const int = (key: string, min: number) => (value: number) =>
  isInt(value, min) ? undefined : `${key} must be an integer >= ${min}, got ${value}`;

/** --loss NAME, or the path of a module of your own; with --dkd-weights A,B, DKD's two weights. */
function parseLoss(name: string, flags: Readonly<Record<string, unknown>>): unknown {
  const dkdWeights = flags['dkd-weights'];
  if (typeof dkdWeights === 'string') {
    const [targetWeight, nonTargetWeight] = dkdWeights.split(',').map(Number);
    check(
      dkdWeights.split(',').length === 2 && targetWeight >= 0 && nonTargetWeight >= 0,
      `--dkd-weights expects A,B (two numbers >= 0), got '${dkdWeights}'`,
    );
    return { name, targetWeight, nonTargetWeight };
  }
  if ((DISTILLATION_LOSSES as readonly string[]).includes(name)) return name;
  check(/\.(m?js|cjs)$/.test(name), `--loss ${name} is not one of ${DISTILLATION_LOSSES.join(', ')}, nor a module path (.mjs or .js)`);
  return { module: name };
}

/**
 * The validation split of a sweep when none is given: a tenth of the labelled rows. Choosing among trials
 * needs rows no trial trained on, and a tenth keeps most labels for training while leaving enough rows
 * for accuracies a point apart to be told apart on the bundled digits and larger sets.
 */
export const DEFAULT_SWEEP_VALIDATION = 0.1;

export const TRAINING_OPTIONS = defineOptions({
  labeled: {
    group: 'training',
    description:
      'the student and baseline keep the labels of the first N training rows; the rest is the unlabeled transfer set ' +
      '(a teacher trained by the run uses every label)',
    default: null,
    shownDefault: 'no limit',
    check: (value) => (value === null || isInt(value, 0) ? undefined : `labeled must be an integer >= 0, got ${value}`),
    flags: [{ name: 'labeled', value: 'int', arg: 'N' }],
  },
  epochs: {
    group: 'training',
    description: 'student epochs (of distillation) over the training rows',
    default: 3,
    // Text students (bags of embeddings) underfit a transfer set in 3 epochs at the image defaults: see docs/results.md.
    defaultWhen: { text: 5 },
    check: int('epochs', 1),
    flags: [{ name: 'epochs', value: 'int', arg: 'N', help: 'epochs of distillation' }],
  },
  teacherEpochs: {
    group: 'training',
    description: 'train the teacher first, for this many epochs over the labelled rows, with hard labels',
    default: 0,
    shownDefault: `${CLI_MODEL_DEFAULTS.builtTeacherEpochs} for a teacher the CLI builds, 0 for a loaded one`,
    check: int('teacherEpochs', 0),
    flags: [{ name: 'teacher-epochs', value: 'int', arg: 'N', help: 'epochs of teacher training on the labelled rows' }],
  },
  batchSize: {
    group: 'training',
    description: 'global batch size, split across the workers',
    default: 128,
    defaultWhen: { text: 32 },
    check: int('batchSize', 1),
    flags: [{ name: 'batch-size', value: 'int', arg: 'N' }],
  },
  alpha: {
    group: 'training',
    description: 'weight of the distillation term; 1 - alpha weighs the hard labels',
    // Few labels: the soft labels carry most of what the student learns; most rows labelled: weigh both evenly
    // (see LABELLED_SHARE_FOR_LABEL_DEFAULTS).
    default: 0.9,
    defaultWhen: { mostlyLabelled: 0.5 },
    check: (alpha) => (isNumber(alpha) && alpha >= 0 && alpha <= 1 ? undefined : `alpha must lie in [0, 1], got ${alpha}`),
    flags: [{ name: 'alpha', value: 'number', arg: 'A', help: 'weight of the distillation term; 1 - A weighs the hard labels' }],
  },
  loss: {
    group: 'training',
    description: `the distillation objective: ${DISTILLATION_LOSSES.join(', ')} (dkd with targetWeight and nonTargetWeight), or { module, options } of your own`,
    default: 'kd',
    check: lossOptionProblem,
    flags: [
      {
        name: 'loss',
        value: 'string',
        arg: 'NAME',
        parse: parseLoss,
        help: `the distillation objective: ${DISTILLATION_LOSSES.join(', ')}, or a module of your own (path.mjs)`,
      },
      {
        name: 'dkd-weights',
        value: 'string',
        arg: 'A,B',
        // Read by --loss; alone it sets nothing.
        parse: (_: string, flags) => check(flags.loss === 'dkd', '--dkd-weights applies to --loss dkd'),
        help: 'with --loss dkd: the weights of its target-class and non-target terms',
        shownDefault: '1,8',
      },
    ],
  },
  validation: {
    group: 'training',
    description: 'hold out N labelled training rows (or a fraction F < 1), evaluated after every epoch of every phase',
    default: null,
    shownDefault: `none (a sweep: ${DEFAULT_SWEEP_VALIDATION})`,
    check: (value) =>
      value === null || (isNumber(value) && value > 0 && (value < 1 || Number.isInteger(value)))
        ? undefined
        : `validation must be a row count (an integer >= 1) or a fraction in (0, 1), got ${value}`,
    flags: [{ name: 'validation', value: 'number', arg: 'N|F' }],
  },
  earlyStopping: {
    group: 'training',
    description: 'stop a phase when the validation metric has not improved for `patience` epochs (needs validation)',
    default: null,
    shownDefault: 'none',
    keys: { patience: null, metric: null },
    check: (value) =>
      value === null || (isInt(value.patience, 1) && (value.metric === undefined || SELECTION_METRICS.includes(value.metric)))
        ? undefined
        : `earlyStopping needs { patience: an integer >= 1, metric?: ${SELECTION_METRICS.join(' | ')} }, got ${JSON.stringify(value)}`,
    flags: [
      {
        name: 'early-stopping',
        value: 'int',
        arg: 'P',
        sets: 'earlyStopping.patience',
        help: 'stop a phase after P epochs without improvement on --validation',
      },
      {
        name: 'early-stopping-metric',
        value: 'string',
        arg: 'M',
        sets: 'earlyStopping.metric',
        help: SELECTION_METRICS.join(' or '),
        shownDefault: 'accuracy',
      },
    ],
  },
  keep: {
    group: 'training',
    description: 'best (on validation) or last: the epoch whose weights a phase ends with',
    default: null,
    shownDefault: 'best with validation, else last',
    check: (keep) => (keep === null || keep === 'best' || keep === 'last' ? undefined : `keep '${keep}' is not one of best, last`),
    flags: [{ name: 'keep', value: 'string', arg: 'WHICH' }],
  },
  baseline: {
    group: 'training',
    description: 'also train the student on the hard labels alone (same budget and seed)',
    default: false,
    check: (value) => (typeof value === 'boolean' ? undefined : `baseline must be true or false, got ${value}`),
    flags: [{ name: 'baseline', value: 'boolean' }],
  },
  allowWeakTeacher: {
    group: 'training',
    description:
      'distil a teacher whose top-1 accuracy on the labelled training rows is near chance (below chance plus a tenth ' +
      'of the way to 100%, chance being the larger of 1/classes and the commonest class share) instead of stopping; ' +
      'such a teacher almost surely was given data, a class order, a tokenizer or preprocessing unlike its own',
    default: false,
    check: (value) => (typeof value === 'boolean' ? undefined : `allowWeakTeacher must be true or false, got ${value}`),
    flags: [{ name: 'allow-weak-teacher', value: 'boolean' }],
  },
  onNonFinite: {
    group: 'training',
    description: 'a step whose averaged gradient is NaN or infinite: abort (naming the step) or skip it',
    default: 'abort',
    check: oneOf('onNonFinite', NON_FINITE_POLICIES),
    flags: [{ name: 'on-nonfinite', value: 'string', arg: 'WHAT' }],
  },
  teacherLogits: {
    group: 'training',
    description: 'logits computed elsewhere ([train rows, classes], float32/64 NumPy, in row order) instead of teacher inference',
    default: null,
    shownDefault: 'none',
    check: stringOrNull('teacherLogits'),
    flags: [{ name: 'teacher-logits', value: 'string', arg: 'FILE.npy' }],
  },
  teacherTestLogits: {
    group: 'training',
    description: "with teacherLogits and no teacher: the teacher's test logits, for its accuracy and the agreement",
    default: null,
    shownDefault: 'none',
    check: stringOrNull('teacherTestLogits'),
    flags: [{ name: 'teacher-test-logits', value: 'string', arg: 'FILE.npy' }],
  },
});

/** Rules about several training options together, or about training and the teacher. */
export const TRAINING_RULES: OptionRule[] = [
  {
    options: ['earlyStopping', 'validation'],
    check: (c) => (c.earlyStopping === null || c.validation !== null ? undefined : 'earlyStopping needs a validation split (validation)'),
  },
  {
    options: ['keep', 'validation'],
    check: (c) => (c.keep !== 'best' || c.validation !== null ? undefined : "keep 'best' needs a validation split (validation)"),
  },
  {
    options: ['teacher', 'teacherLogits'],
    check: (c) =>
      c.teacher != null || c.teacherLogits !== null
        ? undefined
        : 'give a teacher (a model, a model.json or an .onnx file), or its logits (teacherLogits)',
  },
  {
    options: ['teacherEpochs', 'teacherLogits'],
    check: (c) =>
      c.teacherLogits === null || c.teacherEpochs === 0
        ? undefined
        : 'teacherEpochs trains a teacher, but teacherLogits replaces it; set teacherEpochs to 0',
  },
  {
    options: ['teacherNormalize', 'teacherEpochs'],
    check: (c) =>
      c.teacherNormalize === null || c.teacherEpochs === 0
        ? undefined
        : 'teacherNormalize applies to a given teacher; a teacher trained by the run (teacherEpochs > 0) learns from the plain input',
  },
];
