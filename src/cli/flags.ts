import { DistillError, messageOf } from '../errors.js';
import { DEFAULTS } from '../options/options.js';
import { nearestName } from '../known-keys.js';

type Kind = 'string' | 'int' | 'number' | 'boolean';

interface FlagSpec {
  kind: Kind;
  /** Shown in --help after the flag, e.g. N or DIR. */
  arg?: string;
  help: string;
  /** Default shown in --help (the value itself comes from DEFAULTS or the run command). */
  default?: string;
  /**
   * The library option or config-file key the flag sets (dotted for nested ones), when it is not the flag's
   * name in camelCase: errors that name the option show the flag, and the flag overrides that key of --config.
   */
  option?: string;
}

/** Every flag of `tfjs-distill run`: parsing, validation of the value's type, and --help come from here. */
export const RUN_FLAGS = {
  config: {
    kind: 'string',
    arg: 'FILE',
    help:
      'settings from a YAML or JSON file, keyed like the library options (epochs, batchSize, optimizer: { learningRate }, ' +
      "data, teacher, ...); flags override it. A run's report.json is one: it reproduces the run",
  },
  data: {
    kind: 'string',
    arg: 'SRC',
    help:
      'mnist (bundled digits), idx:DIR (MNIST layout, .gz ok), csv:FILE, npy:X.npy,Y.npy ' +
      'or images:DIR (DIR/train/<class>/*.png, DIR/test/...)',
    default: 'mnist',
  },
  'test-data': {
    kind: 'string',
    arg: 'SRC',
    option: 'testData',
    help: 'npy:X.npy,Y.npy or csv:FILE: the test split, instead of holding out --test-fraction',
  },
  'image-size': {
    kind: 'string',
    arg: 'H,W',
    option: 'imageSize',
    help: 'images: resize every image to H x W',
    default: "the first image's size",
  },
  channels: { kind: 'int', arg: 'C', help: 'images: 1 (greyscale) or 3 (RGB)', default: '1 if the first image is greyscale, else 3' },
  'skip-bad-images': {
    kind: 'boolean',
    option: 'skipBadImages',
    help: 'images: leave out images that cannot be decoded (counted) instead of stopping',
  },
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
    help: 'csv and npy without --test-data: share of rows held out as the test split',
    default: '0.2',
  },
  teacher: {
    kind: 'string',
    arg: 'PATH',
    help: 'load the teacher: a tfjs model.json (or its folder), or an ONNX file (.onnx, needs onnxruntime-node)',
  },
  'teacher-normalize': {
    kind: 'string',
    arg: 'MEANS:STDS',
    option: 'teacherNormalize',
    help:
      "the teacher's input only: (x - mean) / std per channel, after pixels are scaled to [0, 1], " +
      'e.g. 0.2860:0.3530 or 0.485,0.456,0.406:0.229,0.224,0.225',
  },
  'teacher-logits': {
    kind: 'string',
    arg: 'FILE.npy',
    option: 'teacherLogits',
    help: 'logits computed elsewhere ([train rows, classes], float32/64, in row order) instead of teacher inference',
  },
  'teacher-test-logits': {
    kind: 'string',
    arg: 'FILE.npy',
    option: 'teacherTestLogits',
    help: "with --teacher-logits and no --teacher: the teacher's test logits, for its accuracy and the agreement",
  },
  'teacher-layout': {
    kind: 'string',
    arg: 'L',
    option: 'teacherLayout',
    help: 'ONNX teacher input layout: nchw or nhwc',
    default: 'read from its input shape',
  },
  'teacher-output': {
    kind: 'string',
    arg: 'NAME',
    option: 'teacherOutput',
    help: 'ONNX teacher: the output to read',
    default: 'the first',
  },
  'teacher-runtime': {
    kind: 'string',
    arg: 'R',
    option: 'teacherRuntime',
    help:
      "what runs a tfjs teacher's inference: auto, tfjs or onnxruntime (exported to ONNX, needs onnxruntime-node); " +
      'auto: onnxruntime when it loads and every layer exports, else tfjs',
    default: DEFAULTS.teacherRuntime,
  },
  'teacher-arch': {
    kind: 'string',
    arg: 'SPEC',
    option: 'teacher',
    help: 'build the teacher: mlp:W1,W2,... or cnn:F1,F2,...',
    default: 'cnn:32,64 for image rows, mlp:128,64 for feature vectors (CSV, NPY [rows, features])',
  },
  'teacher-epochs': {
    kind: 'int',
    arg: 'N',
    option: 'teacherEpochs',
    help: 'epochs of teacher training on the labelled rows',
    default: '5 for a built teacher, 0 for a loaded one',
  },
  student: { kind: 'string', arg: 'PATH', help: 'load the student (its weights are the starting point)' },
  'student-arch': { kind: 'string', arg: 'SPEC', option: 'student', help: 'build the student', default: 'mlp:32' },
  epochs: { kind: 'int', arg: 'N', help: 'epochs of distillation', default: String(DEFAULTS.epochs) },
  'batch-size': {
    kind: 'int',
    arg: 'N',
    option: 'batchSize',
    help: 'global batch size, split across the workers',
    default: String(DEFAULTS.batchSize),
  },
  workers: {
    kind: 'int',
    arg: 'N',
    help: 'worker threads',
    default: `${DEFAULTS.workers} (the cores here), or 1 with --threads-per-worker above 1`,
  },
  'threads-per-worker': {
    kind: 'string',
    arg: 'N|auto',
    option: 'threadsPerWorker',
    help:
      'OpenBLAS threads per worker (openblas kernels); above 1 needs --workers 1. auto: with --workers 1 and a large ' +
      'student (parameters x batch size), a thread per core, else 1',
    default: String(DEFAULTS.threadsPerWorker),
  },
  loss: {
    kind: 'string',
    arg: 'NAME',
    help: 'the distillation objective: kd (Hinton), dkd (decoupled KD), mse-logits, or a module of your own (path.mjs)',
    default: 'kd',
  },
  'dkd-weights': {
    kind: 'string',
    arg: 'A,B',
    option: 'loss',
    help: 'with --loss dkd: the weights of its target-class and non-target terms',
    default: '1,8',
  },
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
  'lr-schedule': {
    kind: 'string',
    arg: 'NAME',
    option: 'lrSchedule.name',
    help: 'constant, cosine (down to --min-lr) or step (x --lr-gamma every --lr-step-every steps)',
    default: 'constant',
  },
  'warmup-steps': {
    kind: 'int',
    arg: 'N',
    option: 'lrSchedule.warmupSteps',
    help: 'linear learning-rate warmup over the first N steps',
    default: '0',
  },
  'min-lr': { kind: 'number', arg: 'RATE', option: 'lrSchedule.minLearningRate', help: 'cosine: the rate at the last step', default: '0' },
  'lr-step-every': { kind: 'int', arg: 'N', option: 'lrSchedule.everySteps', help: 'step: steps between decays' },
  'lr-gamma': { kind: 'number', arg: 'G', option: 'lrSchedule.gamma', help: 'step: the factor of each decay', default: '0.1' },
  'weight-decay': { kind: 'number', arg: 'WD', option: 'weightDecay', help: 'decoupled weight decay (AdamW with adam)', default: '0' },
  'clip-norm': { kind: 'number', arg: 'N', option: 'clipNorm', help: "clip the averaged gradient's global L2 norm to N", default: 'none' },
  'teacher-optimizer': {
    kind: 'string',
    arg: 'NAME',
    option: 'teacherTraining.optimizer.name',
    help: "the teacher's optimizer when the run trains it",
    default: '--optimizer',
  },
  'teacher-lr': {
    kind: 'number',
    arg: 'RATE',
    option: 'teacherTraining.optimizer.learningRate',
    help: "the teacher's learning rate",
    default: '--lr',
  },
  seed: { kind: 'int', arg: 'N', help: 'seed of the shuffles and the built models', default: String(DEFAULTS.seed) },
  backend: { kind: 'string', arg: 'NAME', help: 'auto, tensorflow, wasm or cpu', default: DEFAULTS.backend },
  kernels: {
    kind: 'string',
    arg: 'NAME',
    help: 'wasm backend matMul/conv kernels: auto, openblas (native addon) or wasm; env TFJS_DISTILL_KERNELS',
    default: DEFAULTS.kernels,
  },
  validation: {
    kind: 'number',
    arg: 'N|F',
    help: 'hold out N labelled training rows (or a fraction F < 1), evaluated after every epoch of every phase',
  },
  'early-stopping': {
    kind: 'int',
    arg: 'P',
    option: 'earlyStopping.patience',
    help: 'stop a phase after P epochs without improvement on --validation',
  },
  'early-stopping-metric': { kind: 'string', arg: 'M', option: 'earlyStopping.metric', help: 'accuracy or loss', default: 'accuracy' },
  keep: {
    kind: 'string',
    arg: 'WHICH',
    help: 'best (on --validation) or last: the epoch whose weights a phase ends with',
    default: 'best with --validation, else last',
  },
  augment: {
    kind: 'string',
    arg: 'SPEC',
    help: 'augment image training rows: shift:N (random shifts of up to N pixels), flip (horizontal), or both: shift:2,flip',
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
  'teacher-normalize': RUN_FLAGS['teacher-normalize'],
  'teacher-layout': RUN_FLAGS['teacher-layout'],
  'teacher-output': RUN_FLAGS['teacher-output'],
  'teacher-runtime': RUN_FLAGS['teacher-runtime'],
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
  'queue-timeout': {
    kind: 'number',
    arg: 'S',
    option: 'queueTimeoutSeconds',
    help: 'with --queue: stop with an error after S seconds without Redis (the jobs done stay for a rerun); 0 waits for ever',
    default: '600',
  },
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
  'queue-timeout': {
    kind: 'number',
    arg: 'S',
    option: 'queueTimeoutSeconds',
    help: 'stop with an error after S seconds without Redis; 0 waits for ever',
    default: '600',
  },
  import: { ...importFlag, help: "a module every thread imports first, on top of those the coordinator's --import names" },
  help,
} as const satisfies Record<string, FlagSpec>;

type FlagTable = Record<string, FlagSpec>;
type ValueOf<K extends Kind> = K extends 'boolean' ? boolean : K extends 'string' ? string : number;

/** Parsed flags of a table: a value for each flag given. */
export type FlagsOf<T extends FlagTable> = { -readonly [F in keyof T]?: ValueOf<T[F]['kind']> };
export type RunFlags = FlagsOf<typeof RUN_FLAGS>;
export type LabelFlags = FlagsOf<typeof LABEL_FLAGS>;
export type WorkerFlags = FlagsOf<typeof WORKER_FLAGS>;

const SPECS = RUN_FLAGS as Record<string, FlagSpec>;

/** Flags that steer the CLI itself and set no key of a run's settings. */
const NOT_SETTINGS = new Set(['help', 'config']);

/** The config-file key (dotted when nested) a flag sets, or undefined for --help and --config. */
export function keyOfFlag(flag: string): string | undefined {
  if (NOT_SETTINGS.has(flag)) return undefined;
  return SPECS[flag]?.option ?? flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function parseValue(flag: string, kind: Kind, raw: string): string | number {
  if (kind === 'string') return raw;
  const value = Number(raw);
  const ok = raw.trim() !== '' && Number.isFinite(value) && (kind === 'number' || Number.isInteger(value));
  if (!ok) throw new DistillError(`--${flag} expects ${kind === 'int' ? 'an integer' : 'a number'}, got '${raw}'`);
  return value;
}

/**
 * The flag a mistyped one most likely meant: close to a flag's name, or to the name of the option it sets
 * (--learning-rate is --lr, which sets optimizer.learningRate).
 */
function nearestFlag(name: string, table: FlagTable): string | undefined {
  const candidates = Object.keys(table).flatMap((flag): [string, string][] => {
    const key = keyOfFlag(flag);
    const forms: [string, string][] = [[flag, `--${flag}`]];
    if (key) forms.push([key, `--${flag}`], [key.slice(key.lastIndexOf('.') + 1), `--${flag}`]);
    return forms;
  });
  return nearestName(name, candidates);
}

/**
 * Parses `--flag value`, `--flag=value`, boolean `--flag` (and `--flag=false`, to turn off a config file's
 * true) against a command's flags.
 */
export function parseFlags<T extends FlagTable>(argv: string[], table: T, command = 'run'): FlagsOf<T> {
  const flags: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    const match = /^--([A-Za-z0-9_-]+)(?:=(.*))?$/.exec(token);
    if (!match) throw new DistillError(`unexpected argument '${token}'; flags look like --epochs 3 (see tfjs-distill ${command} --help)`);
    const [, name, inline] = match;
    const spec = (table as FlagTable)[name];
    if (!spec) {
      const suggestion = nearestFlag(name, table);
      const what = command === 'run' ? '' : ` for ${command}`;
      throw new DistillError(
        `unknown flag --${name}${what}${suggestion ? `; did you mean ${suggestion}?` : ` (see tfjs-distill ${command} --help)`}`,
      );
    }
    if (spec.kind === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false')
        throw new DistillError(`--${name} takes no value, or =true or =false`);
      flags[name] = inline !== 'false';
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

/** True when the arguments ask for help (-h or --help anywhere), whatever else they hold. */
export function asksForHelp(argv: string[]): boolean {
  return argv.some((token) => token === '-h' || token === '--help');
}

/** The flag table of --help; for run, with the config-file key each flag sets. */
export function flagHelp(table: FlagTable = RUN_FLAGS): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const left = `  --${name}${spec.arg ? ` ${spec.arg}` : ''}`;
    const key = table === RUN_FLAGS ? keyOfFlag(name) : undefined;
    const notes = [spec.default && `default: ${spec.default}`, key && `key: ${key}`].filter(Boolean);
    return [left, spec.help + (notes.length > 0 ? ` (${notes.join('; ')})` : '')];
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right).join('\n');
}

/** The flag that sets each library option: the first flag that names it (--teacher before --teacher-arch). */
const FLAG_OF_OPTION = new Map<string, string>();
for (const table of [RUN_FLAGS, LABEL_FLAGS, WORKER_FLAGS] as FlagTable[]) {
  for (const flag of Object.keys(table)) {
    const key = table[flag].option ?? keyOfFlag(flag);
    if (key && !FLAG_OF_OPTION.has(key)) FLAG_OF_OPTION.set(key, `--${flag}`);
  }
}

/** The settings a config file gave (dotted paths, parents too) that no flag overrode, and the file. */
export interface FileSettings {
  file: string;
  keys: ReadonlySet<string>;
}

/**
 * A library error's message in the CLI's words: every option it names (see DistillError.options) becomes
 * the flag that sets it. Options whose values came from the config file keep their names, and the message
 * then starts with the file.
 */
export function inFlagTerms(error: DistillError, fromFile?: FileSettings): string {
  let message = messageOf(error);
  let inFile = false;
  for (const option of error.options) {
    if (fromFile?.keys.has(option)) {
      inFile = true;
      continue;
    }
    const flag = FLAG_OF_OPTION.get(option);
    if (flag) message = message.replace(new RegExp(`(?<![\\w./-])${option.replace('.', '\\.')}(?![\\w/-]|\\.\\w)`, 'g'), flag);
  }
  return inFile ? `${fromFile!.file}: ${message}` : message;
}
