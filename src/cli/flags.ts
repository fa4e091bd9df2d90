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
  data: {
    kind: 'string',
    arg: 'SRC',
    help:
      'mnist (bundled digits), idx:DIR (MNIST layout, .gz ok), csv:FILE, npy:X.npy,Y.npy ' +
      'or images:DIR (DIR/train/<class>/*.png, DIR/test/...)',
    default: 'mnist',
  },
  'test-data': { kind: 'string', arg: 'SRC', help: 'npy:X.npy,Y.npy or csv:FILE: the test split, instead of holding out --test-fraction' },
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
  loss: {
    kind: 'string',
    arg: 'NAME',
    help: 'the distillation objective: kd (Hinton), dkd (decoupled KD), mse-logits, or a module of your own (path.mjs)',
    default: 'kd',
  },
  'dkd-weights': { kind: 'string', arg: 'A,B', help: 'dkd: the weights of its target-class and non-target terms', default: '1,8' },
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
    option: 'lrSchedule',
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
    option: 'earlyStopping',
    help: 'stop a phase after P epochs without improvement on --validation',
  },
  'early-stopping-metric': { kind: 'string', arg: 'M', option: 'earlyStopping.metric', help: 'accuracy or loss', default: 'accuracy' },
  keep: {
    kind: 'string',
    arg: 'WHICH',
    help: 'best (on --validation) or last: the epoch whose weights a phase ends with',
    default: 'best with --validation, else last',
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

type Flags = typeof RUN_FLAGS;
type ValueOf<K extends Kind> = K extends 'boolean' ? boolean : K extends 'string' ? string : number;

/** Parsed flags: a value for each flag given. */
export type RunFlags = { -readonly [F in keyof Flags]?: ValueOf<Flags[F]['kind']> };

function parseValue(flag: string, kind: Kind, raw: string): string | number {
  if (kind === 'string') return raw;
  const value = Number(raw);
  const ok = raw.trim() !== '' && Number.isFinite(value) && (kind === 'number' || Number.isInteger(value));
  if (!ok) throw new DistillError(`--${flag} expects ${kind === 'int' ? 'an integer' : 'a number'}, got '${raw}'`);
  return value;
}

/** Parses `--flag value`, `--flag=value` and boolean `--flag`. */
export function parseRunFlags(argv: string[]): RunFlags {
  const flags: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(token);
    if (!match) throw new DistillError(`unexpected argument '${token}'; flags look like --epochs 3 (see tfjs-distill --help)`);
    const [, name, inline] = match;
    const spec = (RUN_FLAGS as Record<string, FlagSpec>)[name];
    if (!spec) throw new DistillError(`unknown flag --${name} (see tfjs-distill --help)`);
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
  return flags as RunFlags;
}

/** The flag table of --help. */
export function flagHelp(): string {
  const rows = Object.entries(RUN_FLAGS as Record<string, FlagSpec>).map(([name, spec]) => {
    const left = `  --${name}${spec.arg ? ` ${spec.arg}` : ''}`;
    return [left, spec.help + (spec.default ? ` (default: ${spec.default})` : '')];
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right).join('\n');
}

/** The flag that sets each library option: the option's name where it is the flag's. */
const FLAG_OF_OPTION = new Map(
  Object.entries(RUN_FLAGS as Record<string, FlagSpec>).map(([flag, spec]) => [spec.option ?? flag, `--${flag}`]),
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
