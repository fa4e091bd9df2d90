import { DistillError, messageOf } from '../errors.js';
import { DEFAULTS } from '../distill/options.js';

type Kind = 'string' | 'int' | 'number' | 'boolean';

interface FlagSpec {
  kind: Kind;
  /** Shown in --help after the flag, e.g. N or DIR. */
  arg?: string;
  help: string;
  /** Default shown in --help (the value itself comes from DEFAULTS or the run command). */
  default?: string;
  /** The library option the flag sets, when its name differs: errors that name the option show the flag. */
  option?: string;
}

/** Every flag of `tfjs-distill run`: parsing, validation of the value's type, and --help come from here. */
export const RUN_FLAGS = {
  data: { kind: 'string', arg: 'SRC', help: 'mnist (bundled digits), idx:DIR (MNIST layout, .gz ok) or csv:FILE', default: 'mnist' },
  limit: { kind: 'int', arg: 'N', help: 'use only the first N training rows' },
  labeled: {
    kind: 'int',
    arg: 'N',
    help:
      'the student and baseline keep the labels of the first N training rows; the rest is the unlabeled transfer set ' +
      '(a teacher trained by the run uses every label)',
  },
  'test-fraction': {
    kind: 'number',
    arg: 'F',
    option: 'testFraction',
    help: 'csv only: share of rows held out as the test split',
    default: '0.2',
  },
  teacher: { kind: 'string', arg: 'PATH', help: 'load the teacher from a model.json (or its folder)' },
  'teacher-arch': { kind: 'string', arg: 'SPEC', help: 'build the teacher: mlp:W1,W2,... or cnn:F1,F2,...', default: 'cnn:32,64' },
  'teacher-epochs': {
    kind: 'int',
    arg: 'N',
    option: 'teacherEpochs',
    help: 'epochs of teacher training on the labelled rows',
    default: '5 for a built teacher, 0 for a loaded one',
  },
  student: { kind: 'string', arg: 'PATH', help: 'load the student (its weights are the starting point)' },
  'student-arch': { kind: 'string', arg: 'SPEC', help: 'build the student', default: 'mlp:32' },
  epochs: { kind: 'int', arg: 'N', help: 'epochs of distillation', default: String(DEFAULTS.epochs) },
  'batch-size': {
    kind: 'int',
    arg: 'N',
    option: 'batchSize',
    help: 'global batch size, split across the workers',
    default: String(DEFAULTS.batchSize),
  },
  workers: { kind: 'int', arg: 'N', help: 'worker threads', default: `${DEFAULTS.workers} (the cores here)` },
  temperature: { kind: 'number', arg: 'T', help: 'softmax temperature of the distillation term', default: String(DEFAULTS.temperature) },
  alpha: {
    kind: 'number',
    arg: 'A',
    help: 'weight of the distillation term; 1 - A weighs the hard labels',
    default: String(DEFAULTS.alpha),
  },
  optimizer: { kind: 'string', arg: 'NAME', option: 'optimizer.name', help: 'adam, sgd or momentum', default: DEFAULTS.optimizer.name },
  lr: {
    kind: 'number',
    arg: 'RATE',
    option: 'optimizer.learningRate',
    help: 'learning rate',
    default: String(DEFAULTS.optimizer.learningRate),
  },
  seed: { kind: 'int', arg: 'N', help: 'seed of the shuffles and the built models', default: String(DEFAULTS.seed) },
  backend: { kind: 'string', arg: 'NAME', help: 'auto, tensorflow, wasm or cpu', default: DEFAULTS.backend },
  kernels: {
    kind: 'string',
    arg: 'NAME',
    help: 'wasm backend matMul/conv kernels: auto, openblas (native addon) or wasm; env TFJS_DISTILL_KERNELS',
    default: DEFAULTS.kernels,
  },
  baseline: { kind: 'boolean', help: 'also train the student on the hard labels alone (same budget and seed)' },
  out: {
    kind: 'string',
    arg: 'DIR',
    help: 'where teacher/, student/ and report.json go; DIR/.checkpoint holds the run state until it ends',
    default: 'distill-out',
  },
  resume: {
    kind: 'boolean',
    option: 'checkpoint.resume',
    help: 'continue the interrupted run in --out DIR from its last checkpoint (same flags; --workers may differ)',
  },
  'checkpoint-every': {
    kind: 'int',
    arg: 'N',
    option: 'checkpoint.everySteps',
    help: 'checkpoint training every N steps',
    default: 'once per epoch',
  },
  'max-restarts': {
    kind: 'int',
    arg: 'N',
    option: 'maxRestarts',
    help: 'restart the workers from the last checkpoint after a worker failure, at most N times',
    default: String(DEFAULTS.maxRestarts),
  },
  'on-nonfinite': {
    kind: 'string',
    arg: 'WHAT',
    option: 'onNonFinite',
    help: 'a step whose averaged gradient is NaN or infinite: abort (naming the step) or skip it',
    default: DEFAULTS.onNonFinite,
  },
  'worker-memory-mb': {
    kind: 'int',
    arg: 'MB',
    option: 'workerMemoryMb',
    help: 'JS heap limit of each worker thread (a worker over it fails and is restarted)',
    default: "Node's",
  },
  'soft-labels': {
    kind: 'string',
    arg: 'FILE',
    option: 'softLabels',
    help: 'a soft-label store: reused when the same teacher labelled the same data (labelling is skipped), written otherwise',
  },
  'soft-label-top-k': {
    kind: 'int',
    arg: 'K',
    option: 'softLabelTopK',
    help: "keep the teacher's top K classes per row (float16 + index); the rest of the mass is spread evenly",
  },
  import: {
    kind: 'string',
    arg: 'MODULE',
    option: 'workerImports',
    help: 'a module to import in every thread first, e.g. one that registers custom layers',
  },
  help: { kind: 'boolean', help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

const { data, limit, teacher, seed, workers, backend, kernels, import: importFlag, help } = RUN_FLAGS;
const shared = {
  'test-fraction': RUN_FLAGS['test-fraction'],
  'teacher-arch': { ...RUN_FLAGS['teacher-arch'], help: 'build the teacher (untrained, seeded by --seed): mlp:W1,W2,... or cnn:F1,F2,...' },
  'worker-memory-mb': RUN_FLAGS['worker-memory-mb'],
};

/** Every flag of `tfjs-distill label`: the run's data and teacher flags, and where the labels go. */
export const LABEL_FLAGS = {
  data,
  limit,
  'test-fraction': shared['test-fraction'],
  teacher,
  'teacher-arch': shared['teacher-arch'],
  seed,
  'soft-labels': { ...RUN_FLAGS['soft-labels'], help: 'the soft-label store to write (reused when it already holds these labels)' },
  'soft-label-top-k': RUN_FLAGS['soft-label-top-k'],
  temperature: { ...RUN_FLAGS.temperature, help: "the temperature of top-K probabilities (part of a top-K store's identity)" },
  shard: {
    kind: 'string',
    arg: 'K/N',
    help:
      'label only shard K of N (0-based; contiguous whole batches) into FILE.shard-K-of-N; auto/N takes K from ' +
      'JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array)',
  },
  queue: {
    kind: 'string',
    arg: 'URL',
    help:
      'coordinate: queue the rows as BullMQ jobs on redis[s]://[USER:PASSWORD@]HOST:PORT/NAME for tfjs-distill worker ' +
      'processes, gather their logits, write the store (password also from TFJS_DISTILL_QUEUE_PASSWORD)',
  },
  'job-rows': { kind: 'int', arg: 'N', option: 'jobRows', help: 'with --queue: rows per job, a multiple of 256', default: '4096' },
  workers,
  backend,
  kernels,
  'worker-memory-mb': shared['worker-memory-mb'],
  'max-restarts': { ...RUN_FLAGS['max-restarts'], help: 'after a worker failure, restart the workers and label again, at most N times' },
  import: importFlag,
  help,
} as const satisfies Record<string, FlagSpec>;

/** Every flag of `tfjs-distill worker`. */
export const WORKER_FLAGS = {
  queue: { kind: 'string', arg: 'URL', help: 'the queue to take jobs from: redis[s]://[USER:PASSWORD@]HOST:PORT/NAME' },
  workers: { ...workers, help: 'worker threads; the process labels as many jobs at once' },
  backend,
  kernels,
  'worker-memory-mb': shared['worker-memory-mb'],
  'stall-seconds': {
    kind: 'number',
    arg: 'S',
    option: 'stallSeconds',
    help: 'how long the job of a worker that died waits before another worker takes it',
    default: '30',
  },
  import: importFlag,
  help,
} as const satisfies Record<string, FlagSpec>;

type FlagTable = Record<string, FlagSpec>;
type ValueOf<K extends Kind> = K extends 'boolean' ? boolean : K extends 'string' ? string : number;

/** Parsed flags of a table: a value for each flag given. */
export type FlagsOf<T extends FlagTable> = { -readonly [F in keyof T]?: ValueOf<T[F]['kind']> };
export type RunFlags = FlagsOf<typeof RUN_FLAGS>;
export type LabelFlags = FlagsOf<typeof LABEL_FLAGS>;
export type WorkerFlags = FlagsOf<typeof WORKER_FLAGS>;

function parseValue(flag: string, kind: Kind, raw: string): string | number {
  if (kind === 'string') return raw;
  const value = Number(raw);
  const ok = raw.trim() !== '' && Number.isFinite(value) && (kind === 'number' || Number.isInteger(value));
  if (!ok) throw new DistillError(`--${flag} expects ${kind === 'int' ? 'an integer' : 'a number'}, got '${raw}'`);
  return value;
}

/** Parses `--flag value`, `--flag=value` and boolean `--flag` against a command's flags. */
export function parseFlags<T extends FlagTable>(argv: string[], table: T, command = 'run'): FlagsOf<T> {
  const flags: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(token);
    if (!match) throw new DistillError(`unexpected argument '${token}'; flags look like --epochs 3 (see tfjs-distill --help)`);
    const [, name, inline] = match;
    const spec = (table as FlagTable)[name];
    if (!spec) throw new DistillError(`unknown flag --${name}${command === 'run' ? '' : ` for ${command}`} (see tfjs-distill --help)`);
    if (spec.kind === 'boolean') {
      if (inline !== undefined) throw new DistillError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined || (inline === undefined && raw.startsWith('--'))) {
      throw new DistillError(`--${name} needs a value (${spec.arg})`);
    }
    flags[name] = parseValue(name, spec.kind, raw);
  }
  return flags as FlagsOf<T>;
}

/** Parses the flags of `tfjs-distill run`. */
export function parseRunFlags(argv: string[]): RunFlags {
  return parseFlags(argv, RUN_FLAGS);
}

/** The flag table of --help. */
export function flagHelp(table: FlagTable = RUN_FLAGS): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const left = `  --${name}${spec.arg ? ` ${spec.arg}` : ''}`;
    return [left, spec.help + (spec.default ? ` (default: ${spec.default})` : '')];
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right).join('\n');
}

/** The flag that sets each library option: the option's name where it is the flag's. */
const FLAG_OF_OPTION = new Map(
  [RUN_FLAGS, LABEL_FLAGS, WORKER_FLAGS].flatMap((table) =>
    Object.entries(table as FlagTable).map(([flag, spec]) => [spec.option ?? flag, `--${flag}`] as const),
  ),
);
FLAG_OF_OPTION.set('learningRate', '--lr');

/**
 * A library error's message in the CLI's words: every option it names (see DistillError.options) becomes
 * the flag that sets it.
 */
export function inFlagTerms(error: DistillError): string {
  let message = messageOf(error);
  for (const option of error.options) {
    const flag = FLAG_OF_OPTION.get(option);
    if (flag) message = message.replace(new RegExp(`(?<![\\w./-])${option.replace('.', '\\.')}(?![\\w/-]|\\.\\w)`, 'g'), flag);
  }
  return message;
}
