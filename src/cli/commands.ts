/**
 * The CLI's commands: the option groups each takes (declared in src/options/groups/) and its own
 * command-only options. Flags, --help, config-file keys and errors are all derived from these and the schema.
 */
import { DEFAULT_JOB_ROWS } from '../queue/queue.js';
import { DEFAULT_STALL_SECONDS } from '../queue/queue-worker.js';
import type { OptionKey } from '../options/resolve.js';
import { type OptionDecl, type OptionGroup, isInt, isNumber } from '../options/schema.js';
import { STUDENT_VARIANTS } from '../student/index.js';
import { SCHEDULE_CHOICES } from '../sweep/schedule.js';
import { DEFAULT_SWEEP_VALIDATION } from '../options/groups/training.js';
import type { DefaultCondition } from '../options/default-conditions.js';
import { isPlainObject } from '../known-keys.js';

/** A command-only option: declared like a schema option, but belonging to one command. */
export type CommandOption = Omit<OptionDecl<unknown>, 'group' | 'scope'>;

export type CommandName = 'run' | 'sweep' | 'label' | 'worker' | 'merge' | 'predict';

export interface CommandSpec {
  name: CommandName;
  /** One line for the usage. */
  summary: string;
  usage: string;
  groups: readonly OptionGroup[];
  /** Options of those groups the command does not take. */
  omit?: readonly OptionKey[];
  /** Defaults of those groups' options that this command changes, as its help shows them. */
  shownDefaults?: Partial<Record<OptionKey, string>>;
  /** The conditions on the training data its defaults depend on (see src/options/default-conditions.ts); default: every one. */
  defaultConditions?: readonly DefaultCondition[];
  own: Readonly<Record<string, CommandOption>>;
  /** What the positional arguments are, for commands that take them. */
  positionals?: string;
}

const QUEUE_URL = 'redis[s]://[USER:PASSWORD@]HOST:PORT/NAME';

export const COMMANDS: Readonly<Record<CommandName, CommandSpec>> = {
  run: {
    name: 'run',
    summary: 'train or load a teacher, distil a student into it, evaluate both',
    usage: 'tfjs-distill run [--config FILE] [flags]',
    groups: ['data', 'teacher', 'student', 'training', 'labelling', 'runtime', 'checkpoint', 'output'],
    own: {},
  },
  sweep: {
    name: 'sweep',
    summary: 'label once, distil every point of a grid of settings with baselines, keep the best student on validation',
    usage: 'tfjs-distill sweep [--config FILE] --teacher MODEL --grid KEY=V1,V2 [--grid ...] [flags]',
    groups: ['data', 'teacher', 'student', 'training', 'labelling', 'runtime', 'checkpoint', 'output', 'queue'],
    shownDefaults: { validation: String(DEFAULT_SWEEP_VALIDATION) },
    own: {
      queue: {
        description:
          `run each trial as a BullMQ job on ${QUEUE_URL} for tfjs-distill worker processes (the teacher labels here, ` +
          'once); --out, the data and the teacher must be at the same paths on every machine',
        check: (value) => (typeof value === 'string' ? undefined : `queue must be a URL, got ${JSON.stringify(value)}`),
        flags: [{ name: 'queue', value: 'string', arg: 'URL' }],
      },
      grid: {
        description:
          'the settings to try: option key to a list of values (grid: { temperature: [1, 2, 4], student: [mlp:16, mlp:32] }); ' +
          "each --grid KEY=V1,V2 adds values to KEY, and the flags replace the config file's grid",
        check: (value) =>
          isPlainObject(value) || (Array.isArray(value) && value.every((item) => typeof item === 'string'))
            ? undefined
            : `grid must map option keys to lists of values, got ${JSON.stringify(value)}`,
        flags: [{ name: 'grid', value: 'string', arg: 'KEY=V1,V2', multiple: true }],
      },
      trials: {
        description: 'sample N points of the grid (seeded) instead of all of them',
        check: (value) => (isInt(value, 1) ? undefined : `trials must be an integer >= 1, got ${JSON.stringify(value)}`),
        flags: [{ name: 'trials', value: 'int', arg: 'N' }],
      },
      schedule: {
        description:
          'concurrent: single-worker trials side by side; data-parallel: one trial at a time on every worker; auto: ' +
          'whichever a few timed steps of the largest student say is faster',
        default: 'auto',
        check: (value) =>
          SCHEDULE_CHOICES.includes(value as never)
            ? undefined
            : `schedule must be one of ${SCHEDULE_CHOICES.join(', ')}, got ${JSON.stringify(value)}`,
        flags: [{ name: 'schedule', value: 'string', arg: 'MODE' }],
      },
    },
  },
  label: {
    name: 'label',
    summary: 'teacher labelling alone, into the soft-label store (or one shard of it, or by workers on a queue)',
    usage: 'tfjs-distill label [--config FILE] --soft-labels FILE [flags]',
    groups: ['data', 'teacher', 'labelling', 'runtime', 'queue'],
    omit: ['threadsPerWorker', 'trainWorkers'],
    // label has no labelled rows to go by: a top-k store's temperature is the plain default unless given.
    defaultConditions: [],
    own: {
      shard: {
        description:
          'label only shard K of N (0-based; contiguous whole batches) into FILE.shard-K-of-N; auto/N takes K from ' +
          'JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array)',
        check: (value) => (typeof value === 'string' ? undefined : `shard must be K/N or auto/N, got ${JSON.stringify(value)}`),
        flags: [{ name: 'shard', value: 'string', arg: 'K/N' }],
      },
      queue: {
        description:
          `coordinate: queue the rows as BullMQ jobs on ${QUEUE_URL} for tfjs-distill worker ` +
          'processes, gather their logits, write the store (password also from TFJS_DISTILL_QUEUE_PASSWORD)',
        check: (value) => (typeof value === 'string' ? undefined : `queue must be a URL, got ${JSON.stringify(value)}`),
        flags: [{ name: 'queue', value: 'string', arg: 'URL' }],
      },
      jobRows: {
        description: 'with queue: rows per job, a multiple of 256',
        default: DEFAULT_JOB_ROWS,
        check: (value) => (isInt(value, 1) ? undefined : `jobRows must be an integer, got ${JSON.stringify(value)}`),
        flags: [{ name: 'job-rows', value: 'int', arg: 'N' }],
      },
    },
  },
  worker: {
    name: 'worker',
    summary: 'run the jobs of a label --queue or sweep --queue coordinator (labelling and trials), on this machine',
    usage: 'tfjs-distill worker [--config FILE] --queue URL [flags]',
    groups: ['runtime', 'queue'],
    omit: ['threadsPerWorker', 'trainWorkers', 'maxRestarts'],
    own: {
      queue: {
        description: `the queue to take jobs from: ${QUEUE_URL}`,
        check: (value) => (typeof value === 'string' ? undefined : `queue must be a URL, got ${JSON.stringify(value)}`),
        flags: [{ name: 'queue', value: 'string', arg: 'URL' }],
      },
      stallSeconds: {
        description: 'how long the job of a worker that died waits before another worker takes it',
        default: DEFAULT_STALL_SECONDS,
        check: (value) => (isNumber(value) ? undefined : `stallSeconds must be a number, got ${JSON.stringify(value)}`),
        flags: [{ name: 'stall-seconds', value: 'number', arg: 'S' }],
      },
    },
  },
  merge: {
    name: 'merge',
    summary: 'join shard files that cover every row once into the store OUT.sl',
    usage: 'tfjs-distill merge [--config FILE] OUT.sl SHARD...   (or --soft-labels OUT.sl SHARD..., or softLabels in FILE)',
    groups: ['labelling'],
    omit: ['softLabelTopK', 'temperature'],
    own: {},
    positionals: 'OUT.sl (unless --soft-labels or the config file names it) and the SHARD files',
  },
  predict: {
    name: 'predict',
    summary: "a student folder's labels and probabilities for every row of a data source, as JSONL (and its accuracy)",
    usage: 'tfjs-distill predict STUDENT --data SRC [--model VARIANT] [--out FILE]',
    groups: ['data', 'runtime'],
    omit: [
      'testData',
      'testFraction',
      'imageSize',
      'channels',
      'skipBadImages',
      'tokenizer',
      'maxLength',
      'textField',
      'textPairField',
      'classes',
      'seed',
      'workers',
      'threadsPerWorker',
      'trainWorkers',
      'barrierTimeoutMs',
      'maxRestarts',
      'workerMemoryMb',
      'workerImports',
    ],
    own: {
      model: {
        description: `which model of the folder: ${STUDENT_VARIANTS.join(', ')} (its subfolder), or a model.json path in it`,
        check: (value) =>
          typeof value === 'string' && value !== '' ? undefined : `model must be a variant name, got ${JSON.stringify(value)}`,
        flags: [{ name: 'model', value: 'string', arg: 'VARIANT' }],
      },
      out: {
        description: 'write the predictions (JSONL: row, label, probabilities) to FILE, whole or not at all; default: stdout',
        check: (value) => (typeof value === 'string' && value !== '' ? undefined : `out must be a file, got ${JSON.stringify(value)}`),
        flags: [{ name: 'out', value: 'string', arg: 'FILE' }],
      },
    },
    positionals: 'STUDENT: the student folder a run wrote (OUT/student), or its model.json',
  },
};
