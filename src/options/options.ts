import type * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import type { Dataset } from '../data/dataset.js';
import { check } from '../errors.js';
import { type KeyTree, isPlainObject, unknownKey, unknownKeyMessage } from '../known-keys.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { InputLayout, TeacherNormalize } from '../models/onnx-teacher.js';

/** What runs a layers teacher's inference (see DistillOptions.teacherRuntime). */
export type TeacherRuntime = 'auto' | 'tfjs' | 'onnxruntime';
export const TEACHER_RUNTIMES: readonly TeacherRuntime[] = ['auto', 'tfjs', 'onnxruntime'];
import type { CheckpointOptions } from '../train/checkpoint.js';
import { threadsConflict } from './parallelism.js';
import { KERNEL_CHOICES, type KernelChoice, kernelChoiceFromEnv } from '../kernels/kernel-choice.js';
import { type LossOption, lossOptionProblem } from '../train/losses.js';
import { LR_SCHEDULES, type LrSchedule } from '../train/lr-schedule.js';
import type { SelectionMetric } from '../train/replica.js';
import { OPTIMIZER_NAMES, type OptimizerSpec } from '../train/optimizers.js';
import type { ProgressEvent } from '../progress.js';
import type { NonFinitePolicy } from '../train/replica.js';

/** Everything {@link distill} takes. Only `teacher`, `student`, `train` and `test` are required. */
export interface DistillOptions {
  /**
   * The teacher: a tfjs model, the path of a saved model.json (or its folder), or the path of an ONNX file
   * (`.onnx`, run by the optional onnxruntime-node in every worker).
   */
  teacher?: tf.LayersModel | string;
  /**
   * Logits computed elsewhere, in place of teacher inference: a NumPy file (float32 or float64) of shape
   * [rows, classes], one row per training row, in order. `teacher` is then optional. Default: none.
   */
  teacherLogits?: string | null;
  /**
   * The teacher's logits on the test rows (NumPy, [test rows, classes]): they fill the report's teacher
   * column when no teacher model is given. Default: none.
   */
  teacherTestLogits?: string | null;
  /**
   * How an ONNX teacher's rank-4 input is laid out; default: read from its input shape (PyTorch exports
   * NCHW, our image rows are NHWC, and each batch is transposed to fit).
   */
  teacherLayout?: InputLayout | null;
  /**
   * Normalise the teacher's input only, per channel: (x - mean) / std, after uint8 pixels are scaled to
   * [0, 1], as models trained on normalised input expect; the student keeps the plain input. One value
   * per channel, or one for all. Default: none.
   */
  teacherNormalize?: TeacherNormalize | null;
  /** The ONNX teacher's output to read, by name; default the first. */
  teacherOutput?: string | null;
  /**
   * What runs a tfjs layers teacher's inference (labelling and its test evaluation): `tfjs`, or `onnxruntime`
   * (the model exported to ONNX in this process, run by onnxruntime-node in every worker). `auto` picks
   * onnxruntime when onnxruntime-node loads and every layer exports, else tfjs with a notice saying why.
   * ONNX files always run on onnxruntime and graph models on tfjs.
   * Default 'auto'.
   */
  teacherRuntime?: TeacherRuntime;
  /** The student; its current weights are the starting point. */
  student: tf.LayersModel | string;
  /** Training rows; rows labelled -1 form the unlabeled transfer set. */
  train: Dataset;
  /** Held-out rows every model is evaluated on; all must be labelled. */
  test: Dataset;
  /**
   * Worker threads (ranks). Default: the machine's available parallelism, or 1 with `threadsPerWorker`
   * above 1.
   */
  workers?: number;
  /**
   * OpenBLAS threads per worker, with the openblas kernels (other kernels ignore it). OpenBLAS keeps one
   * thread pool per process, so a number above 1 needs workers 1. `auto` (src/distill/parallelism.ts): with
   * workers 1 and a large student (trainable parameters x batchSize), a BLAS thread per core, else 1; the
   * workers stay a worker per core unless given, which trains the bench's dense job as fast as 1 worker on
   * every core and labels faster. Like the
   * worker count, the thread count changes float rounding (OpenBLAS splits the GEMMs differently), not the
   * maths: the same seed, workers and threads reproduce a run bit for bit. Default 'auto'.
   */
  threadsPerWorker?: number | 'auto';
  /**
   * Hide the hard labels of every training row after the first `labeled` from the student and the
   * baseline: those rows form the unlabeled transfer set, which the student learns from through the
   * teacher's soft labels alone. A teacher trained by the run still sees every label. Default: no limit.
   */
  labeled?: number | null;
  /** Student epochs over the training rows. Default 3. */
  epochs?: number;
  /** Train the teacher first, for this many epochs over the labelled rows, with hard labels. Default 0. */
  teacherEpochs?: number;
  /** Global batch size, split across the workers. Default 128. */
  batchSize?: number;
  /** Softmax temperature T of the distillation term. Default 4. */
  temperature?: number;
  /** Weight of the distillation term; 1 - alpha weighs the hard-label term. Default 0.9. */
  alpha?: number;
  /**
   * The distillation objective (see LossSpec): 'kd' (Hinton's), 'dkd' (decoupled KD, with `targetWeight`
   * and `nonTargetWeight`, default 1 and 8), 'mse-logits', or a module of your own: `{ module, options }`,
   * whose default export every worker imports (CustomLossFunction). Default 'kd'.
   */
  loss?: LossOption;
  /** Seed of every shuffle; the same seed, worker count and BLAS threads (threadsPerWorker) reproduce a run. Default 1. */
  seed?: number;
  /** Optimizer of every training phase. Default adam, learning rate 1e-3. */
  optimizer?: Partial<OptimizerSpec>;
  /**
   * The learning rate over each training phase's steps: constant, cosine (down to `minLearningRate`) or
   * step decay, each with optional linear warmup. Default constant.
   */
  lrSchedule?: LrSchedule;
  /** Decoupled weight decay (AdamW's; applied with any optimizer), on the averaged gradient's step. Default 0. */
  weightDecay?: number;
  /** Clip the averaged gradient to this global L2 norm. Default null, no clipping. */
  clipNorm?: number | null;
  /** The teacher's own optimizer, schedule, decay and clipping when the run trains it; default: the student's. */
  teacherTraining?: PhaseTrainingOptions;
  /**
   * Hold out labelled training rows (seeded; only rows whose label the student sees, never the unlabeled
   * transfer set): a count, or a fraction in (0, 1). Every phase is evaluated on them after every epoch
   * (loss, accuracy, agreement with the teacher), and they are never trained on. Default null: none.
   */
  validation?: number | null;
  /**
   * Stop a phase when the validation metric has not improved for `patience` epochs (needs `validation`).
   * The metric also picks the best epoch. Default null: every epoch runs.
   */
  earlyStopping?: { patience: number; metric?: SelectionMetric } | null;
  /** Which epoch's weights a phase ends with: the best on validation, or the last. Default: best with a validation split, else last. */
  keep?: 'best' | 'last' | null;
  /**
   * Augment image training rows in every training phase: random shifts of up to `shift` pixels and, with
   * `flip`, horizontal flips, drawn per row and step from the seed (identical for any worker count); never
   * the validation or test rows. The teacher's soft labels are those of the unshifted rows. Default null.
   */
  augment?: { shift?: number; flip?: boolean } | null;
  /** Also train the student architecture on the hard labels alone, same budget and seed. Default false. */
  baseline?: boolean;
  /** tfjs backend in the workers. Default 'auto'. */
  backend?: BackendChoice;
  /**
   * The wasm backend's matMul and conv kernels: `openblas` (tfjs-distill's native addon, built by npm install
   * where a C compiler is present, OpenBLAS loaded at run time), `wasm` (the backend's own, transposed matMuls
   * materialised first), or `auto`: openblas when it loads, else wasm with a notice. Default: the
   * TFJS_DISTILL_KERNELS environment variable, else 'auto'. Other backends ignore it, except that `openblas`
   * needs the wasm backend.
   */
  kernels?: KernelChoice;
  /** Called with progress while the run goes on. */
  onProgress?: (event: ProgressEvent) => void;
  /** Aborting it cancels the run: it stops at the next step and `distill` rejects with DistillCancelledError. */
  signal?: AbortSignal;
  /**
   * How long a worker may make no progress (a rank waiting at a barrier, a step or an inference task that
   * does not finish) before the run counts it as hung and stops the pool, in ms. Default 10 minutes.
   */
  barrierTimeoutMs?: number;
  /** Checkpoint the run into a folder, and optionally resume it from there. Default: no checkpoints. */
  checkpoint?: CheckpointOptions;
  /**
   * How often a failed worker (an exception, an exit, out of memory, a hang) restarts the pool, which
   * then continues from the last checkpoint (or the start of the phase, without checkpoints). Failures
   * that would repeat, such as bad data or a diverging loss, are never retried. Default 2.
   */
  maxRestarts?: number;
  /** When the averaged gradient is not finite: 'abort' the run, naming the step, or 'skip' the step. Default 'abort'. */
  onNonFinite?: NonFinitePolicy;
  /** JS heap limit of each worker thread in MB; a worker that exceeds it fails (and may be restarted). Default: Node's. */
  workerMemoryMb?: number | null;
  /** Modules every worker imports before loading any model, e.g. to register custom layers. Default none. */
  workerImports?: string[];
  /**
   * A soft-label store file: reused when it was made by the same teacher from the same data (and the same
   * top-k setting), so labelling is skipped; otherwise written after labelling. Default: none.
   */
  softLabels?: string | null;
  /**
   * Keep only the teacher's k most likely classes per row (float16 probabilities at the run's temperature
   * plus class indices), the rest of the mass spread evenly; the student learns from exactly that. Default:
   * null, every logit.
   */
  softLabelTopK?: number | null;
}

/** A training phase's own optimizer settings, each defaulting to the run's. */
export interface PhaseTrainingOptions {
  optimizer?: Partial<OptimizerSpec>;
  lrSchedule?: LrSchedule;
  weightDecay?: number;
  clipNorm?: number | null;
}

// Derived from the loss registry (train/losses/registry.ts): a loss file registered there is a valid `loss` here.
export type { LossOption };

/** The options with every default filled in and every value checked. */
export type DistillConfig = Required<
  Omit<DistillOptions, 'teacher' | 'student' | 'train' | 'test' | 'onProgress' | 'signal' | 'optimizer' | 'checkpoint' | 'teacherTraining'>
> & { optimizer: OptimizerSpec; teacherTraining: PhaseTrainingOptions };

/** Defaults, in one place; the CLI shows these too. */
export const DEFAULTS: DistillConfig = {
  workers: availableParallelism(),
  labeled: null,
  epochs: 3,
  teacherEpochs: 0,
  batchSize: 128,
  temperature: 4,
  alpha: 0.9,
  seed: 1,
  optimizer: { name: 'adam', learningRate: 1e-3 },
  baseline: false,
  backend: 'auto',
  kernels: 'auto',
  threadsPerWorker: 'auto',
  barrierTimeoutMs: 10 * 60 * 1000,
  maxRestarts: 2,
  onNonFinite: 'abort',
  workerMemoryMb: null,
  workerImports: [],
  softLabels: null,
  softLabelTopK: null,
  teacherLayout: null,
  teacherNormalize: null,
  teacherOutput: null,
  teacherRuntime: 'auto',
  teacherLogits: null,
  teacherTestLogits: null,
  loss: 'kd',
  lrSchedule: { name: 'constant' },
  weightDecay: 0,
  clipNorm: null,
  teacherTraining: {},
  validation: null,
  earlyStopping: null,
  keep: null,
  augment: null,
};

/** A level of {@link OPTION_KEYS} that names every key of T, each taken whole: one too few or too many fails to compile. */
const keysOf = <T>(keys: Record<keyof T, null>): KeyTree => keys;

/**
 * The options without a default (DistillConfig leaves them out). With DEFAULTS' keys they name every option,
 * so an option added to DistillOptions must get a default or be listed here, or this fails to compile.
 */
const WITHOUT_DEFAULT = {
  teacher: null,
  student: null,
  train: null,
  test: null,
  onProgress: null,
  signal: null,
  checkpoint: keysOf<CheckpointOptions>({ dir: null, everySteps: null, resume: null }),
} satisfies Record<Exclude<keyof DistillOptions, keyof DistillConfig>, KeyTree | null>;

/**
 * The keys of object options whose default does not show them (a null default). An option whose default is
 * an object (optimizer) is checked against that object's keys, so it needs no entry here.
 */
const OBJECT_OPTIONS: { [K in keyof DistillConfig]?: KeyTree } = {
  teacherNormalize: keysOf<TeacherNormalize>({ mean: null, std: null }),
  earlyStopping: { patience: null, metric: null },
  augment: { shift: null, flip: null },
  // Every schedule's keys (the default shows only the constant one's).
  lrSchedule: { name: null, warmupSteps: null, minLearningRate: null, everySteps: null, gamma: null },
  teacherTraining: {
    optimizer: keysOf<OptimizerSpec>({ name: null, learningRate: null }),
    lrSchedule: { name: null, warmupSteps: null, minLearningRate: null, everySteps: null, gamma: null },
    weightDecay: null,
    clipNorm: null,
  },
};

/** The keys of an object default, recursively, each leaf taken whole. */
const keysOfDefault = (value: object): KeyTree =>
  Object.fromEntries(Object.entries(value).map(([key, item]) => [key, isPlainObject(item) ? keysOfDefault(item) : null]));

/** Every option's name, and the keys of those that take an object: what distill() accepts, and nothing else. */
export const OPTION_KEYS: KeyTree = { ...keysOfDefault(DEFAULTS), ...OBJECT_OPTIONS, ...WITHOUT_DEFAULT };

/** Names people bring from other libraries, and the option each means. */
export const OPTION_ALIASES: Readonly<Record<string, string>> = { lr: 'optimizer.learningRate' };

const NON_FINITE_POLICIES: NonFinitePolicy[] = ['abort', 'skip'];

const SELECTION_METRICS: SelectionMetric[] = ['accuracy', 'loss'];

const BACKENDS: BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

const isInt = (value: number, min: number) => Number.isInteger(value) && value >= min;

/** Checks a phase's schedule, decay and clipping; `where` prefixes the option names ('teacherTraining.'). */
function checkStepRules(
  where: string,
  rules: Pick<PhaseTrainingOptions, 'lrSchedule' | 'weightDecay' | 'clipNorm'>,
  demand: (condition: boolean, message: string, ...options: string[]) => void,
): void {
  const schedule = rules.lrSchedule;
  if (schedule !== undefined) {
    const name = `${where}lrSchedule`;
    demand(
      typeof schedule === 'object' && schedule !== null && LR_SCHEDULES.includes(schedule.name),
      `${name} ${JSON.stringify(schedule)} needs a name, one of ${LR_SCHEDULES.join(', ')}`,
      name,
    );
    const warmup = schedule.warmupSteps;
    demand(warmup === undefined || isInt(warmup, 0), `${name}.warmupSteps must be an integer >= 0, got ${warmup}`, `${name}.warmupSteps`);
    if (schedule.name === 'cosine') {
      const min = schedule.minLearningRate;
      demand(
        min === undefined || (Number.isFinite(min) && min >= 0),
        `${name}.minLearningRate must be a number >= 0, got ${min}`,
        `${name}.minLearningRate`,
      );
    }
    if (schedule.name === 'step') {
      demand(isInt(schedule.everySteps, 1), `${name}.everySteps must be an integer >= 1, got ${schedule.everySteps}`, `${name}.everySteps`);
      demand(
        schedule.gamma === undefined || (Number.isFinite(schedule.gamma) && schedule.gamma > 0),
        `${name}.gamma must be a number > 0, got ${schedule.gamma}`,
        `${name}.gamma`,
      );
    }
  }
  const decay = rules.weightDecay;
  demand(
    decay === undefined || (Number.isFinite(decay) && decay >= 0),
    `${where}weightDecay must be a number >= 0, got ${decay}`,
    `${where}weightDecay`,
  );
  const clip = rules.clipNorm;
  demand(
    clip == null || (Number.isFinite(clip) && clip > 0),
    `${where}clipNorm must be a number > 0 (or null), got ${clip}`,
    `${where}clipNorm`,
  );
}

/** Fills in defaults and checks every setting, with a one-line error naming the setting and the fix. */
export function resolveConfig(options: DistillOptions): DistillConfig {
  // A misspelt option would otherwise be dropped, and the run would go on with its default.
  const unknown = unknownKey(options as unknown as Record<string, unknown>, OPTION_KEYS, OPTION_ALIASES);
  check(!unknown, () => unknownKeyMessage('option', unknown!, OPTION_KEYS));
  const given = <T extends object>(values: T | undefined, defaults: object) =>
    Object.fromEntries(Object.entries(values ?? {}).filter(([key, value]) => key in defaults && value !== undefined));
  const config: DistillConfig = {
    ...DEFAULTS,
    ...given(options, DEFAULTS),
    optimizer: { ...DEFAULTS.optimizer, ...given(options.optimizer, DEFAULTS.optimizer) },
    kernels: options.kernels ?? kernelChoiceFromEnv() ?? DEFAULTS.kernels,
  };
  const demand = (condition: boolean, message: string, ...options: string[]) => check(condition, message, options);
  demand(isInt(config.workers, 1), `workers must be an integer >= 1, got ${config.workers}`, 'workers');
  demand(
    config.threadsPerWorker === 'auto' || isInt(config.threadsPerWorker, 1),
    `threadsPerWorker must be an integer >= 1 or 'auto', got ${config.threadsPerWorker}`,
    'threadsPerWorker',
  );
  const conflict = config.threadsPerWorker !== 'auto' && threadsConflict(options.workers ?? 1, config.threadsPerWorker);
  demand(!conflict, conflict || '', 'threadsPerWorker', 'workers');
  demand(config.labeled === null || isInt(config.labeled, 0), `labeled must be an integer >= 0, got ${config.labeled}`, 'labeled');
  demand(isInt(config.epochs, 1), `epochs must be an integer >= 1, got ${config.epochs}`, 'epochs');
  demand(isInt(config.teacherEpochs, 0), `teacherEpochs must be an integer >= 0, got ${config.teacherEpochs}`, 'teacherEpochs');
  demand(isInt(config.batchSize, 1), `batchSize must be an integer >= 1, got ${config.batchSize}`, 'batchSize');
  demand(
    config.batchSize >= config.workers,
    `batchSize ${config.batchSize} is smaller than workers ${config.workers}: every worker needs at least one row per step; ` +
      'raise batchSize or lower workers',
    'batchSize',
    'workers',
  );
  demand(
    Number.isFinite(config.temperature) && config.temperature > 0,
    `temperature must be a number > 0, got ${config.temperature}`,
    'temperature',
  );
  demand(Number.isFinite(config.alpha) && config.alpha >= 0 && config.alpha <= 1, `alpha must lie in [0, 1], got ${config.alpha}`, 'alpha');
  demand(Number.isInteger(config.seed), `seed must be an integer, got ${config.seed}`, 'seed');
  demand(typeof config.baseline === 'boolean', `baseline must be true or false, got ${config.baseline}`, 'baseline');
  demand(
    OPTIMIZER_NAMES.includes(config.optimizer.name),
    `optimizer.name '${config.optimizer.name}' is not one of ${OPTIMIZER_NAMES.join(', ')}`,
    'optimizer.name',
  );
  demand(
    Number.isFinite(config.optimizer.learningRate) && config.optimizer.learningRate > 0,
    `optimizer.learningRate must be a number > 0, got ${config.optimizer.learningRate}`,
    'optimizer.learningRate',
  );
  demand(BACKENDS.includes(config.backend), `backend '${config.backend}' is not one of ${BACKENDS.join(', ')}`, 'backend');
  demand(KERNEL_CHOICES.includes(config.kernels), `kernels '${config.kernels}' is not one of ${KERNEL_CHOICES.join(', ')}`, 'kernels');
  demand(
    config.kernels !== 'openblas' || config.backend === 'auto' || config.backend === 'wasm',
    `kernels 'openblas' run only on wasm, but backend is '${config.backend}': set backend 'wasm' (or 'auto'), or kernels 'auto'`,
    'kernels',
    'backend',
  );
  demand(
    isInt(config.barrierTimeoutMs, 1),
    `barrierTimeoutMs must be a positive integer, got ${config.barrierTimeoutMs}`,
    'barrierTimeoutMs',
  );
  demand(isInt(config.maxRestarts, 0), `maxRestarts must be an integer >= 0, got ${config.maxRestarts}`, 'maxRestarts');
  demand(
    NON_FINITE_POLICIES.includes(config.onNonFinite),
    `onNonFinite '${config.onNonFinite}' is not one of ${NON_FINITE_POLICIES.join(', ')}`,
    'onNonFinite',
  );
  demand(
    config.workerMemoryMb === null || isInt(config.workerMemoryMb, 16),
    `workerMemoryMb must be an integer >= 16, got ${config.workerMemoryMb}`,
    'workerMemoryMb',
  );
  demand(config.softLabels === null || typeof config.softLabels === 'string', 'softLabels must be a file path', 'softLabels');
  for (const key of ['teacherLogits', 'teacherTestLogits', 'teacherOutput'] as const) {
    demand(config[key] === null || typeof config[key] === 'string', `${key} must be a string, got ${config[key]}`, key);
  }
  demand(
    config.softLabelTopK === null || isInt(config.softLabelTopK, 1),
    `softLabelTopK must be an integer >= 1, got ${config.softLabelTopK}`,
    'softLabelTopK',
  );
  for (const [where, phase] of [
    ['', config],
    ['teacherTraining.', config.teacherTraining],
  ] as const) {
    checkStepRules(where, phase, demand);
  }
  const teacherOptimizer = config.teacherTraining.optimizer;
  demand(
    teacherOptimizer?.name === undefined || OPTIMIZER_NAMES.includes(teacherOptimizer.name),
    `teacherTraining.optimizer.name '${teacherOptimizer?.name}' is not one of ${OPTIMIZER_NAMES.join(', ')}`,
    'teacherTraining.optimizer.name',
  );
  demand(
    teacherOptimizer?.learningRate === undefined || (Number.isFinite(teacherOptimizer.learningRate) && teacherOptimizer.learningRate > 0),
    `teacherTraining.optimizer.learningRate must be a number > 0, got ${teacherOptimizer?.learningRate}`,
    'teacherTraining.optimizer.learningRate',
  );
  const { validation, earlyStopping, keep, augment } = config;
  demand(
    augment === null ||
      ((augment.shift === undefined || isInt(augment.shift, 0)) && (augment.flip === undefined || typeof augment.flip === 'boolean')),
    `augment needs { shift?: an integer >= 0, flip?: true | false }, got ${JSON.stringify(augment)}`,
    'augment',
  );
  demand(
    validation === null || (Number.isFinite(validation) && validation > 0 && (validation < 1 || Number.isInteger(validation))),
    `validation must be a row count (an integer >= 1) or a fraction in (0, 1), got ${validation}`,
    'validation',
  );
  demand(
    earlyStopping === null ||
      (isInt(earlyStopping.patience, 1) && (earlyStopping.metric === undefined || SELECTION_METRICS.includes(earlyStopping.metric))),
    `earlyStopping needs { patience: an integer >= 1, metric?: ${SELECTION_METRICS.join(' | ')} }, got ${JSON.stringify(earlyStopping)}`,
    'earlyStopping',
  );
  demand(
    earlyStopping === null || validation !== null,
    'earlyStopping needs a validation split (validation)',
    'earlyStopping',
    'validation',
  );
  demand(keep === null || keep === 'best' || keep === 'last', `keep '${keep}' is not one of best, last`, 'keep');
  demand(keep !== 'best' || validation !== null, "keep 'best' needs a validation split (validation)", 'keep', 'validation');
  const lossProblem = lossOptionProblem(config.loss);
  demand(lossProblem === undefined, lossProblem ?? '', 'loss');
  demand(
    options.teacher !== undefined || config.teacherLogits !== null,
    'give a teacher (a model, a model.json or an .onnx file), or its logits (teacherLogits)',
    'teacher',
    'teacherLogits',
  );
  demand(
    config.teacherLogits === null || config.teacherEpochs === 0,
    'teacherEpochs trains a teacher, but teacherLogits replaces it; set teacherEpochs to 0',
    'teacherEpochs',
    'teacherLogits',
  );
  demand(
    config.teacherLayout === null || config.teacherLayout === 'nchw' || config.teacherLayout === 'nhwc',
    `teacherLayout '${config.teacherLayout}' is not one of nchw, nhwc`,
    'teacherLayout',
  );
  demand(
    TEACHER_RUNTIMES.includes(config.teacherRuntime),
    `teacherRuntime '${config.teacherRuntime}' is not one of ${TEACHER_RUNTIMES.join(', ')}`,
    'teacherRuntime',
  );
  const normalize = config.teacherNormalize;
  demand(
    normalize === null ||
      (Array.isArray(normalize.mean) &&
        Array.isArray(normalize.std) &&
        normalize.mean.length > 0 &&
        normalize.std.length > 0 &&
        normalize.mean.every(Number.isFinite) &&
        normalize.std.every((s) => Number.isFinite(s) && s > 0)),
    'teacherNormalize needs { mean: number[], std: number[] } with finite means and positive stds, one per channel or one for all',
    'teacherNormalize',
  );
  demand(
    normalize === null || config.teacherEpochs === 0,
    'teacherNormalize applies to a given teacher; a teacher trained by the run (teacherEpochs > 0) learns from the plain input',
    'teacherNormalize',
    'teacherEpochs',
  );
  demand(
    Array.isArray(config.workerImports) && config.workerImports.every((m) => typeof m === 'string'),
    'workerImports must be a list of module paths or URLs',
    'workerImports',
  );
  return config;
}
