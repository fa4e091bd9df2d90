/**
 * The library's option types, documented for its users. The options themselves (defaults, checks, flags)
 * are declared once in ./groups/ (see ./schema.ts); the checks at the end of this file fail to compile when
 * these interfaces and those declarations name different options.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import type { TeacherView } from '../data/sources/source-entry.js';
import type { KeyTree } from '../known-keys.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { EnsembleCombination } from '../infer/predictor.js';
import type { InputLayout, TeacherNormalize } from '../models/onnx-teacher.js';
import type { CheckpointOptions } from '../train/checkpoint.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';
import type { LossOption } from '../train/losses.js';
import type { LrSchedule } from '../train/lr-schedule.js';
import type { SelectionMetric } from '../train/replica.js';
import type { OptimizerSpec } from '../train/optimizers.js';
import type { ProgressEvent } from '../progress.js';
import type { NonFinitePolicy } from '../train/replica.js';
import {
  type DefaultedKeys,
  type KeysOfGroups,
  type LibraryKeys,
  OPTION_ALIASES,
  type ResolvedOptions,
  type SameKeys,
  defaultsOf,
  keyTreeOf,
  keysOfGroups,
  conditionalDefaultsOf,
  resolveOptions,
} from './resolve.js';
import type { AugmentSetting } from './groups/data.js';
import { defaultConditionsOf } from './default-conditions.js';
import type { OptionGroup, TeacherRuntime } from './schema.js';

export { TEACHER_RUNTIMES, type TeacherRuntime } from './schema.js';
export { OPTION_ALIASES };

/** Everything {@link distill} takes. Only `teacher`, `student`, `train` and `test` are required. */
export interface DistillOptions {
  /**
   * The teacher: a tfjs model, the path of a saved model.json (or its folder), or the path of an ONNX file
   * (`.onnx`, run by the optional onnxruntime-node in every worker). A list of them is an ensemble (see
   * `ensemble`), which the run never trains.
   */
  teacher?: tf.LayersModel | string | readonly (tf.LayersModel | string)[];
  /**
   * How an ensemble of teachers (a list in `teacher`) combines them: `logits`, the mean of their logits, or
   * `probabilities`, the mean of their probabilities at `temperature`, given as T log(mean) so that the
   * distillation term's softmax at T sees that mean. Default 'logits'.
   */
  ensemble?: EnsembleCombination;
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
   * The same rows as a teacher given as a file takes them, when that differs from `train` and `test`: a
   * table's raw values (NaN for a missing cell), where `train` and `test` are standardised for the student
   * (loadDataSource's `teacherView`). That teacher labels and is tested on these; a teacher trained by the
   * run (teacherEpochs > 0) trains on and reads `train` and `test`, as the student does. Default: none.
   */
  teacherView?: TeacherView | null;
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
   * Worker threads (ranks) the training phases run on: the pool's first trainWorkers workers; labelling and
   * evaluation keep every worker. A step split among ranks leaves each the whole of a step's fixed cost, and
   * adds the exchange of the gradient and the waits at the barriers, which only a step with enough work to
   * split pays back. `auto`: every worker when `workers` is given; otherwise one rank, plus one more for each
   * 2^24 multiply-adds a training step computes (the model's forward multiply-adds per row times batchSize),
   * at most the workers and batchSize, decided per model (the student's phases, and a teacher the run
   * trains). Only one rank against two was measured; the counts beyond two extrapolate that in proportion.
   * The same seed, training worker count and BLAS threads per worker reproduce a run's weights (one rank of
   * a larger pool runs one BLAS thread, while a pool of one worker may run several). Default 'auto'.
   */
  trainWorkers?: number | 'auto';
  /**
   * Hide the hard labels of every training row after the first `labeled` from the student and the
   * baseline: those rows form the unlabeled transfer set, which the student learns from through the
   * teacher's soft labels alone. A teacher trained by the run still sees every label. Default: no limit.
   */
  labeled?: number | null;
  /** Student epochs over the training rows. Default 3; 5 when `train` is text (see TEXT_DEFAULTS). */
  epochs?: number;
  /** Train the teacher first, for this many epochs over the labelled rows, with hard labels. Default 0. */
  teacherEpochs?: number;
  /** Global batch size, split across the workers. Default 128; 32 when `train` is text (see TEXT_DEFAULTS). */
  batchSize?: number;
  /** Softmax temperature T of the distillation term. Default 4, or 1 when most training rows keep a label (see {@link distillationDefaults}). */
  temperature?: number;
  /** Weight of the distillation term; 1 - alpha weighs the hard-label term. Default 0.9, or 0.5 when most training rows keep a label. */
  alpha?: number;
  /**
   * The distillation objective (see LossSpec): 'kd' (Hinton's), 'dkd' (decoupled KD, with `targetWeight`
   * and `nonTargetWeight`, default 1 and 8), 'mse-logits', or a module of your own: `{ module, options }`,
   * whose default export every worker imports (CustomLossFunction). Default 'kd'.
   */
  loss?: LossOption;
  /** Seed of every shuffle; the same seed, worker count and BLAS threads (threadsPerWorker) reproduce a run. Default 1. */
  seed?: number;
  /** Optimizer of every training phase. Default adam, learning rate 1e-3; 1e-2 when `train` is text (see TEXT_DEFAULTS). */
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
   * Text's `mask` and `ngram` make copies of the rows as they are loaded (DataSourceOptions.augment), so
   * distill() refuses them.
   */
  augment?: AugmentSetting | null;
  /** Also train the student architecture on the hard labels alone, same budget and seed. Default false. */
  baseline?: boolean;
  /**
   * Distil a teacher that is near chance on the labelled training rows instead of stopping with an error:
   * its top-1 accuracy there (known from its soft labels, at no cost) below chance plus a tenth of the way
   * to 100%, chance being the larger of 1 / classes and the most common class's share of those rows. Such a
   * teacher almost surely was given data, a class order, a tokenizer or preprocessing unlike its own.
   * Default false.
   */
  allowWeakTeacher?: boolean;
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

/** The options with every default filled in and every value checked. */
export type DistillConfig = Required<
  Omit<
    DistillOptions,
    'teacher' | 'student' | 'train' | 'test' | 'teacherView' | 'onProgress' | 'signal' | 'optimizer' | 'checkpoint' | 'teacherTraining'
  >
> & { optimizer: OptimizerSpec; teacherTraining: PhaseTrainingOptions };

/** The groups distill() resolves: every option of a run but the CLI's outputs and the queue's. */
export const DISTILL_GROUPS = [
  'data',
  'teacher',
  'student',
  'training',
  'labelling',
  'runtime',
  'checkpoint',
] as const satisfies readonly OptionGroup[];

const DISTILL_KEYS = keysOfGroups(DISTILL_GROUPS, 'library');

/** Defaults, derived from the option declarations; the CLI shows these too. */
export const DEFAULTS: DistillConfig = defaultsOf(DISTILL_KEYS) as DistillConfig;

/** Every option's name, and the keys of those that take an object: what distill() accepts, and nothing else. */
export const OPTION_KEYS: KeyTree = keyTreeOf(DISTILL_KEYS, 'library');

/**
 * The defaults that differ when the training rows are token ids (text, a Dataset with `tokens`): distill()
 * and the CLI use these there, unless the option is given.
 */
export const TEXT_DEFAULTS: Partial<DistillConfig> = conditionalDefaultsOf(DISTILL_KEYS, 'text');

/**
 * The settings that only say how the machine ran a job (workers, threads, restarts, the store's path): a run
 * or trial that differs only in these computes the same thing, so resuming and reusing ignore them.
 */
const MACHINE_SETTINGS: readonly (keyof DistillConfig)[] = [
  'workers',
  'threadsPerWorker',
  'trainWorkers',
  'barrierTimeoutMs',
  'maxRestarts',
  'workerMemoryMb',
  'workerImports',
  'softLabels',
];

/** `config` without its machine settings and the keys in `also`, in its own order: what a result's fingerprint compares. */
export function resultSettings(config: DistillConfig, also: readonly (keyof DistillConfig)[] = []): Record<string, unknown> {
  const omitted = new Set<string>([...MACHINE_SETTINGS, ...also]);
  return Object.fromEntries(Object.entries(config).filter(([key]) => !omitted.has(key)));
}

/**
 * Fills in defaults and checks every option of distill(), with a one-line error naming the option and the fix.
 * An option not given takes the default its declaration gives for the run's training data, where it gives one:
 * for text (TEXT_DEFAULTS), and when most training rows keep a label (see {@link distillationDefaults}).
 */
export function resolveConfig(options: DistillOptions): DistillConfig {
  const conditions = defaultConditionsOf(options);
  const config: ResolvedOptions<(typeof DISTILL_GROUPS)[number]> = resolveOptions(options, { groups: DISTILL_GROUPS, conditions });
  return config;
}

// The interfaces above and the declarations in ./groups/ name exactly the same options (these fail to compile otherwise).
type DistillKeys = KeysOfGroups<(typeof DISTILL_GROUPS)[number]> & LibraryKeys;
const DECLARED_OPTIONS_MATCH: SameKeys<DistillKeys, keyof DistillOptions> = true;
const DECLARED_DEFAULTS_MATCH: SameKeys<DistillKeys & DefaultedKeys, keyof DistillConfig> = true;
void [DECLARED_OPTIONS_MATCH, DECLARED_DEFAULTS_MATCH];
