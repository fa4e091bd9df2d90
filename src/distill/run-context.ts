// What every stage of a distill() run shares: its settings, the worker pool's supervisor, the checkpoints,
// and what the run has recorded so far.
import { type DistillConfig, type DistillOptions, resultSettings } from '../options/options.js';
import { chooseParallelism, chooseTrainWorkers } from '../options/parallelism.js';
import type { PoolKeeper } from '../pool/pool-keeper.js';
import { PoolSupervisor } from '../pool/supervisor.js';
import type { HistoryRecord, ProgressEvent } from '../progress.js';
import type { TrainingPhaseReport } from '../reports/report.js';
import { datasetDigest, modelDigest } from '../teachers/fingerprint.js';
import { type TeacherSource, teacherModelDigest } from '../teachers/open-teacher.js';
import type { Augmentation } from '../train/augment.js';
import { RunCheckpoint, type RunFingerprint } from '../train/checkpoint.js';
import type { CheckedModel } from '../models/checked-model.js';
import type { RunInputs } from './run-inputs.js';

/** One distill() run, as its stages see it. */
export interface RunContext {
  options: DistillOptions;
  config: DistillConfig;
  /** The pool, restarted when a worker fails in a way a fresh pool may not repeat. */
  supervisor: PoolSupervisor;
  checkpoints: RunCheckpoint | undefined;
  threadsPerWorker: number;
  /** The ranks `model`'s training phases run on: the pool's first ones (see chooseTrainWorkers). */
  trainWorkersOf: (model: CheckedModel) => number;
  /** Random shifts and flips of the training rows (images), in every phase. */
  augment: Augmentation | undefined;
  /** Keeps every epoch record in `history`, then passes the event on to the caller. */
  onProgress: (event: ProgressEvent) => void;
  /**
   * The run's history: every epoch record the workers report, then the evaluations. A phase that runs again
   * (after a restart) reports its epochs again; the later record replaces the earlier.
   */
  history: HistoryRecord[];
  /** The report of each training phase, in the order they ran. */
  phases: TrainingPhaseReport[];
  /** The stages a checkpoint let the run skip or continue. */
  resumed: string[];
}

/**
 * Opens the checkpoint folder (checked against the run's fingerprint), chooses workers x BLAS threads (from
 * the student's size where threadsPerWorker is auto) and sets config.workers, and makes the pool's supervisor
 * (taking its pool from `keeper` when given, see PoolSupervisor.release).
 */
export async function startRun(
  options: DistillOptions,
  config: DistillConfig,
  inputs: RunInputs,
  keeper?: PoolKeeper,
): Promise<RunContext> {
  const reportProgress = options.onProgress ?? (() => {});
  const { signal } = options;
  const history: HistoryRecord[] = [];
  const onProgress = (event: ProgressEvent) => {
    if (event.record) {
      const { phase, epoch } = event.record;
      const at = history.findIndex((r) => r.kind === 'epoch' && r.phase === phase && r.epoch === epoch);
      if (at >= 0) history.splice(at, 1);
      history.push(event.record);
    }
    reportProgress(event);
  };
  const checkpoints =
    options.checkpoint && (await RunCheckpoint.open(options.checkpoint, runFingerprint(config, options, inputs.teacher, inputs.student)));
  const { backend, kernels, barrierTimeoutMs, workerImports } = config;
  const { workers, threadsPerWorker } = chooseParallelism({
    workers: options.workers,
    threadsPerWorker: config.threadsPerWorker,
    backend,
    kernels,
    studentParams: inputs.student.trainableParams,
    batchSize: config.batchSize,
  });
  config.workers = workers;
  // A trainWorkers the pool cannot honour is refused here, before the pool starts, not at the first training phase.
  const trainWorkersOf = (model: CheckedModel) =>
    chooseTrainWorkers({
      trainWorkers: config.trainWorkers,
      workers,
      workersGiven: options.workers !== undefined,
      multiplyAdds: model.multiplyAdds,
      batchSize: config.batchSize,
      threadsPerWorker,
    });
  trainWorkersOf(inputs.student);
  const supervisor = new PoolSupervisor({
    pool: {
      workers,
      threadsPerWorker,
      backend,
      kernels,
      barrierTimeoutMs,
      workerImports,
      workerMemoryMb: config.workerMemoryMb ?? undefined,
    },
    maxRestarts: config.maxRestarts,
    resumesFrom: checkpoints ? 'its last checkpoint' : 'the start of the phase',
    onProgress,
    signal,
    keeper,
  });
  return {
    options,
    config,
    supervisor,
    checkpoints,
    threadsPerWorker,
    trainWorkersOf,
    augment: inputs.augment,
    onProgress,
    history,
    phases: [],
    resumed: [],
  };
}

/**
 * What must not change between a checkpointed run and its resumption: every setting that affects the
 * result (not the worker, training worker or BLAS thread count, which only change how the same gradients are computed), and hashes of
 * the data and of the starting models.
 */
function runFingerprint(config: DistillConfig, options: DistillOptions, teacher: TeacherSource, student: CheckedModel): RunFingerprint {
  const { optimizer } = config;
  const settings = resultSettings(config, ['optimizer']);
  // Objects (schedules, normalisation, per-phase settings) are compared as their JSON.
  const flat = Object.fromEntries(
    Object.entries(settings).map(([key, value]) => [key, value !== null && typeof value === 'object' ? JSON.stringify(value) : value]),
  ) as RunFingerprint;
  return {
    ...flat,
    optimizer: optimizer.name,
    learningRate: optimizer.learningRate,
    trainData: datasetDigest(options.train),
    testData: datasetDigest(options.test),
    // The rows a teacher given as a file reads, when they are its own (a table's raw values).
    teacherTrainData: options.teacherView ? datasetDigest(options.teacherView.train) : null,
    teacherTestData: options.teacherView ? datasetDigest(options.teacherView.test) : null,
    teacher: teacherModelDigest(teacher),
    student: modelDigest(student.data),
  };
}
