/** The training group's optimizer settings: optimizer, learning-rate schedule, weight decay, clipping, and the teacher's own. */
import type { KeyTree } from '../../known-keys.js';
import { LR_SCHEDULES, type LrSchedule } from '../../train/lr-schedule.js';
import { OPTIMIZER_NAMES, type OptimizerSpec } from '../../train/optimizers.js';
import type { PhaseTrainingOptions } from '../options.js';
import { type Problem, defineOptions, isInt, isNumber } from '../schema.js';

/** Every schedule's keys (a given schedule shows only its own). */
const SCHEDULE_KEYS: KeyTree = { name: null, warmupSteps: null, minLearningRate: null, everySteps: null, gamma: null };
const OPTIMIZER_KEYS = { name: null, learningRate: null } satisfies Record<keyof OptimizerSpec, null>;

const problem = (message: string, option: string): Problem => ({ message, options: [option] });

/** The problem with a schedule; `name` is its option's name (lrSchedule, teacherTraining.lrSchedule). */
function scheduleProblem(name: string, schedule: LrSchedule): Problem | undefined {
  if (typeof schedule !== 'object' || schedule === null || !LR_SCHEDULES.includes(schedule.name)) {
    return problem(`${name} ${JSON.stringify(schedule)} needs a name, one of ${LR_SCHEDULES.join(', ')}`, name);
  }
  const warmup = schedule.warmupSteps;
  if (warmup !== undefined && !isInt(warmup, 0))
    return problem(`${name}.warmupSteps must be an integer >= 0, got ${warmup}`, `${name}.warmupSteps`);
  if (schedule.name === 'cosine') {
    const min = schedule.minLearningRate;
    if (min !== undefined && !(isNumber(min) && min >= 0))
      return problem(`${name}.minLearningRate must be a number >= 0, got ${min}`, `${name}.minLearningRate`);
  }
  if (schedule.name === 'step') {
    if (!isInt(schedule.everySteps, 1))
      return problem(`${name}.everySteps must be an integer >= 1, got ${schedule.everySteps}`, `${name}.everySteps`);
    if (schedule.gamma !== undefined && !(isNumber(schedule.gamma) && schedule.gamma > 0))
      return problem(`${name}.gamma must be a number > 0, got ${schedule.gamma}`, `${name}.gamma`);
  }
  return undefined;
}

const decayProblem = (name: string, decay: number | undefined) =>
  decay === undefined || (isNumber(decay) && decay >= 0) ? undefined : `${name} must be a number >= 0, got ${decay}`;
const clipProblem = (name: string, clip: number | null | undefined) =>
  clip == null || (isNumber(clip) && clip > 0) ? undefined : `${name} must be a number > 0 (or null), got ${clip}`;

/** The problem with an optimizer; `name` is its option's name (optimizer, teacherTraining.optimizer). */
function optimizerProblem(name: string, optimizer: Partial<OptimizerSpec>): Problem | undefined {
  if (optimizer.name !== undefined && !OPTIMIZER_NAMES.includes(optimizer.name))
    return problem(`${name}.name '${optimizer.name}' is not one of ${OPTIMIZER_NAMES.join(', ')}`, `${name}.name`);
  const rate = optimizer.learningRate;
  if (rate !== undefined && !(isNumber(rate) && rate > 0))
    return problem(`${name}.learningRate must be a number > 0, got ${rate}`, `${name}.learningRate`);
  return undefined;
}

/** The problem with the teacher's own settings. */
function teacherTrainingProblem(phase: PhaseTrainingOptions): Problem | undefined {
  const where = 'teacherTraining.';
  return (
    (phase.lrSchedule === undefined ? undefined : scheduleProblem(`${where}lrSchedule`, phase.lrSchedule)) ??
    asProblem(decayProblem(`${where}weightDecay`, phase.weightDecay), `${where}weightDecay`) ??
    asProblem(clipProblem(`${where}clipNorm`, phase.clipNorm), `${where}clipNorm`) ??
    (phase.optimizer === undefined ? undefined : optimizerProblem(`${where}optimizer`, phase.optimizer))
  );
}

const asProblem = (message: string | undefined, option: string) => (message === undefined ? undefined : problem(message, option));

export const OPTIMIZATION_OPTIONS = defineOptions({
  optimizer: {
    group: 'training',
    description: 'optimizer of every training phase: adam, sgd or momentum, and its learning rate',
    default: { name: 'adam', learningRate: 1e-3 },
    defaultWhen: { text: { name: 'adam', learningRate: 1e-2 } },
    mergeDefault: true,
    keys: OPTIMIZER_KEYS,
    check: (optimizer) => optimizerProblem('optimizer', optimizer),
    flags: [
      { name: 'optimizer', value: 'string', arg: 'NAME', sets: 'optimizer.name', help: OPTIMIZER_NAMES.join(', ') },
      { name: 'lr', value: 'number', arg: 'RATE', sets: 'optimizer.learningRate', help: 'learning rate' },
    ],
  },
  lrSchedule: {
    group: 'training',
    description: 'the learning rate over each phase: constant, cosine (down to minLearningRate) or step decay, with optional linear warmup',
    default: { name: 'constant' },
    keys: SCHEDULE_KEYS,
    check: (schedule) => scheduleProblem('lrSchedule', schedule),
    flags: [
      {
        name: 'lr-schedule',
        value: 'string',
        arg: 'NAME',
        sets: 'lrSchedule.name',
        help: 'constant, cosine (down to --min-lr) or step (x --lr-gamma every --lr-step-every steps)',
      },
      {
        name: 'warmup-steps',
        value: 'int',
        arg: 'N',
        sets: 'lrSchedule.warmupSteps',
        help: 'linear learning-rate warmup over the first N steps',
        shownDefault: '0',
      },
      {
        name: 'min-lr',
        value: 'number',
        arg: 'RATE',
        sets: 'lrSchedule.minLearningRate',
        help: 'cosine: the rate at the last step',
        shownDefault: '0',
      },
      {
        name: 'lr-step-every',
        value: 'int',
        arg: 'N',
        sets: 'lrSchedule.everySteps',
        help: 'step: steps between decays',
        shownDefault: '',
      },
      {
        name: 'lr-gamma',
        value: 'number',
        arg: 'G',
        sets: 'lrSchedule.gamma',
        help: 'step: the factor of each decay',
        shownDefault: '0.1',
      },
    ],
  },
  weightDecay: {
    group: 'training',
    description: 'decoupled weight decay (AdamW with adam; applied with any optimizer) on the averaged gradient',
    default: 0,
    check: (decay) => decayProblem('weightDecay', decay),
    flags: [{ name: 'weight-decay', value: 'number', arg: 'WD', help: 'decoupled weight decay (AdamW with adam)' }],
  },
  clipNorm: {
    group: 'training',
    description: "clip the averaged gradient's global L2 norm to this; null: no clipping",
    default: null,
    shownDefault: 'none',
    check: (clip) => clipProblem('clipNorm', clip),
    flags: [{ name: 'clip-norm', value: 'number', arg: 'N', help: "clip the averaged gradient's global L2 norm to N" }],
  },
  teacherTraining: {
    group: 'training',
    description: "the teacher's own optimizer, schedule, decay and clipping when the run trains it; each defaults to the student's",
    default: {},
    shownDefault: "the student's",
    keys: { optimizer: OPTIMIZER_KEYS, lrSchedule: SCHEDULE_KEYS, weightDecay: null, clipNorm: null },
    check: teacherTrainingProblem,
    flags: [
      {
        name: 'teacher-optimizer',
        value: 'string',
        arg: 'NAME',
        sets: 'teacherTraining.optimizer.name',
        help: "the teacher's optimizer when the run trains it",
        shownDefault: '--optimizer',
      },
      {
        name: 'teacher-lr',
        value: 'number',
        arg: 'RATE',
        sets: 'teacherTraining.optimizer.learningRate',
        help: "the teacher's learning rate",
        shownDefault: '--lr',
      },
    ],
  },
});
