/** The labelling, runtime (the worker pool), checkpoint and queue groups. */
import { availableParallelism } from 'node:os';
import { check } from '../../errors.js';
import { BACKEND_CHOICES } from '../../kernels/backend.js';
import { KERNEL_CHOICES, KERNELS_ENV, kernelChoiceFromEnv } from '../../kernels/kernel-choice.js';
import { threadsConflict, trainWorkersConflict } from '../parallelism.js';
import { type OptionRule, defineOptions, isInt, isNumber, oneOf, stringOrNull } from '../schema.js';

/** The parser of a flag that takes N (an integer >= 1) or auto. */
function countOrAuto(flag: string): (value: string) => number | 'auto' {
  return (value) => {
    if (value === 'auto') return value;
    check(/^[1-9]\d*$/.test(value), `--${flag} expects an integer >= 1 or auto, got '${value}'`);
    return Number(value);
  };
}

/** How long the queue's coordinator and workers wait for an unreachable Redis by default, in seconds. */
export const DEFAULT_QUEUE_TIMEOUT_SECONDS = 600;

export const RUNTIME_OPTIONS = defineOptions({
  softLabels: {
    group: 'labelling',
    description: 'a soft-label store: reused when the same teacher labelled the same data (labelling is skipped), written otherwise',
    default: null,
    shownDefault: 'none',
    check: (value) => (value === null || typeof value === 'string' ? undefined : 'softLabels must be a file path'),
    flags: [{ name: 'soft-labels', value: 'string', arg: 'FILE' }],
  },
  softLabelTopK: {
    group: 'labelling',
    description: "keep the teacher's top K classes per row (float16 + index); the rest of the mass is spread evenly",
    default: null,
    shownDefault: 'every logit',
    check: (value) => (value === null || isInt(value, 1) ? undefined : `softLabelTopK must be an integer >= 1, got ${value}`),
    flags: [{ name: 'soft-label-top-k', value: 'int', arg: 'K' }],
  },
  temperature: {
    group: 'labelling',
    description: "softmax temperature of the distillation term, and of a top-K store's probabilities (part of its identity)",
    // Few labels: a soft target carries the teacher's view of the other classes; most rows labelled: a sharp
    // one, since the hard labels already say the rest (see LABELLED_SHARE_FOR_LABEL_DEFAULTS).
    default: 4,
    defaultWhen: { mostlyLabelled: 1 },
    check: (value) => (isNumber(value) && value > 0 ? undefined : `temperature must be a number > 0, got ${value}`),
    flags: [
      { name: 'temperature', value: 'number', arg: 'T', help: 'softmax temperature of the distillation term (and of top-K soft labels)' },
    ],
  },
  workers: {
    group: 'runtime',
    description: 'worker threads (ranks)',
    default: { computed: 'the cores here, or 1 with threadsPerWorker above 1', value: () => availableParallelism() },
    check: (value) => (isInt(value, 1) ? undefined : `workers must be an integer >= 1, got ${value}`),
    flags: [{ name: 'workers', value: 'int', arg: 'N', help: 'worker threads' }],
  },
  threadsPerWorker: {
    group: 'runtime',
    description:
      'OpenBLAS threads per worker (openblas kernels); above 1 needs workers 1. auto: with workers 1 and a large ' +
      'student (parameters x batch size), a thread per core, else 1',
    default: 'auto',
    check: (value) =>
      value === 'auto' || isInt(value, 1) ? undefined : `threadsPerWorker must be an integer >= 1 or 'auto', got ${value}`,
    flags: [
      {
        name: 'threads-per-worker',
        value: 'string',
        arg: 'N|auto',
        parse: countOrAuto('threads-per-worker'),
      },
    ],
  },
  trainWorkers: {
    group: 'runtime',
    description:
      'worker threads (ranks) the training phases use; labelling keeps every worker. auto: the workers when given, ' +
      'else 1 plus 1 per 2^24 multiply-adds a training step computes (per row x batch size), at most the workers and the batch size',
    default: 'auto',
    check: (value) => (value === 'auto' || isInt(value, 1) ? undefined : `trainWorkers must be an integer >= 1 or 'auto', got ${value}`),
    flags: [{ name: 'train-workers', value: 'string', arg: 'N|auto', parse: countOrAuto('train-workers') }],
  },
  backend: {
    group: 'runtime',
    description: `tfjs backend in the workers: ${BACKEND_CHOICES.join(', ')}`,
    default: 'auto',
    check: oneOf('backend', BACKEND_CHOICES),
    flags: [{ name: 'backend', value: 'string', arg: 'NAME' }],
  },
  kernels: {
    group: 'runtime',
    description: `wasm backend matMul/conv kernels: ${KERNEL_CHOICES.join(', ')} (openblas: the native addon); env ${KERNELS_ENV}`,
    default: {
      computed: `the ${KERNELS_ENV} environment variable, else auto`,
      value: () => kernelChoiceFromEnv() ?? 'auto',
      listed: 'auto',
    },
    check: oneOf('kernels', KERNEL_CHOICES),
    flags: [{ name: 'kernels', value: 'string', arg: 'NAME' }],
  },
  barrierTimeoutMs: {
    group: 'runtime',
    description: 'how long a worker may make no progress before the run counts it as hung and stops the pool, in ms',
    default: 10 * 60 * 1000,
    check: (value) => (isInt(value, 1) ? undefined : `barrierTimeoutMs must be a positive integer, got ${value}`),
  },
  maxRestarts: {
    group: 'runtime',
    description: 'restart the workers from the last checkpoint after a worker failure, at most N times',
    default: 2,
    check: (value) => (isInt(value, 0) ? undefined : `maxRestarts must be an integer >= 0, got ${value}`),
    flags: [{ name: 'max-restarts', value: 'int', arg: 'N' }],
  },
  workerMemoryMb: {
    group: 'runtime',
    description: 'JS heap limit of each worker thread in MB (a worker over it fails and is restarted)',
    default: null,
    shownDefault: "Node's",
    check: (value) => (value === null || isInt(value, 16) ? undefined : `workerMemoryMb must be an integer >= 16, got ${value}`),
    flags: [{ name: 'worker-memory-mb', value: 'int', arg: 'MB' }],
  },
  workerImports: {
    group: 'runtime',
    description: 'modules every thread imports first, e.g. to register custom layers (paths or URLs)',
    default: [],
    check: (value) =>
      Array.isArray(value) && value.every((m) => typeof m === 'string')
        ? undefined
        : 'workerImports must be a list of module paths or URLs',
    flags: [
      {
        name: 'import',
        value: 'string',
        arg: 'MODULE',
        multiple: true,
        help: 'a module to import in every thread first, e.g. one that registers custom layers (repeatable)',
      },
    ],
  },
  onProgress: { group: 'runtime', scope: 'library', description: 'called with progress while the run goes on' },
  signal: { group: 'runtime', scope: 'library', description: 'aborting it cancels the run at the next step' },
  checkpoint: {
    group: 'checkpoint',
    description: 'checkpoint the run into a folder (on the CLI, --out DIR/.checkpoint), and optionally resume it from there',
    shownDefault: 'no checkpoints (the CLI always checkpoints)',
    keys: { dir: null, everySteps: null, resume: null },
    fileKeys: { everySteps: null, resume: null },
    check: (value) => {
      const everySteps = value.everySteps;
      if (everySteps != null && !isInt(everySteps, 1))
        return {
          message: `checkpoint.everySteps must be an integer >= 1, got ${JSON.stringify(everySteps)}`,
          options: ['checkpoint.everySteps'],
        };
      if (value.resume !== undefined && typeof value.resume !== 'boolean')
        return { message: `checkpoint.resume must be true or false, got ${JSON.stringify(value.resume)}`, options: ['checkpoint.resume'] };
      return stringOrNull('checkpoint.dir')(value.dir ?? null);
    },
    flags: [
      {
        name: 'resume',
        value: 'boolean',
        sets: 'checkpoint.resume',
        help: 'continue the interrupted run in --out DIR from its last checkpoint (same flags; --workers may differ)',
        shownDefault: '',
      },
      {
        name: 'checkpoint-every',
        value: 'int',
        arg: 'N',
        sets: 'checkpoint.everySteps',
        help: 'checkpoint training every N steps',
        shownDefault: 'once per epoch',
      },
    ],
  },
  queueTimeoutSeconds: {
    group: 'queue',
    description:
      'seconds the queue coordinator or a worker waits for an unreachable Redis before it stops with a one-line error ' +
      '(0: wait for ever); long enough for a restart or a failover, short enough that a run whose Redis is gone ends',
    default: DEFAULT_QUEUE_TIMEOUT_SECONDS,
    check: (value) =>
      isNumber(value) && value >= 0 ? undefined : `queueTimeoutSeconds must be a number of seconds >= 0 (0: wait for ever), got ${value}`,
    flags: [{ name: 'queue-timeout', value: 'number', arg: 'S' }],
  },
});

/** Rules about several runtime options, or runtime and training, together. */
export const RUNTIME_RULES: OptionRule[] = [
  {
    options: ['threadsPerWorker', 'workers'],
    // The workers as given: with more than one thread, the workers default to 1 (see chooseParallelism).
    check: (c, given) => (c.threadsPerWorker === 'auto' ? undefined : threadsConflict(given.workers ?? 1, c.threadsPerWorker ?? 1)),
  },
  {
    // Only training takes a row per rank per step: a number of training workers as given, or with 'auto' the
    // workers as given (auto trains on them); auto without them caps its ranks at the batch (chooseTrainWorkers).
    options: ['batchSize', 'trainWorkers', 'workers'],
    check: (c, given) => {
      const ranks = c.trainWorkers === 'auto' ? given.workers : c.trainWorkers;
      if (ranks === undefined || c.batchSize! >= ranks) return undefined;
      const named = c.trainWorkers === 'auto' ? `workers ${ranks}` : `trainWorkers ${ranks}`;
      return (
        `batchSize ${c.batchSize} is smaller than ${named}: every training worker needs at least one row per step; ` +
        `raise batchSize or lower ${c.trainWorkers === 'auto' ? 'workers (or set trainWorkers)' : 'trainWorkers'}`
      );
    },
  },
  {
    options: ['trainWorkers', 'workers', 'threadsPerWorker'],
    check: (c, given) => {
      if (c.trainWorkers === 'auto') return undefined;
      // More than one BLAS thread makes the pool one worker when workers is not given (see chooseParallelism).
      const threads = c.threadsPerWorker === 'auto' ? 1 : (c.threadsPerWorker ?? 1);
      const workers = given.workers ?? (threads > 1 ? 1 : c.workers!);
      return trainWorkersConflict(c.trainWorkers!, workers, threads)?.message;
    },
  },
  {
    options: ['kernels', 'backend'],
    check: (c) =>
      c.kernels !== 'openblas' || c.backend === 'auto' || c.backend === 'wasm'
        ? undefined
        : `kernels 'openblas' run only on wasm, but backend is '${c.backend}': set backend 'wasm' (or 'auto'), or kernels 'auto'`,
  },
];
