import { importSpecifier } from '../url-or-path.js';
import type * as tf from '@tensorflow/tfjs';
import { LogitTable } from '../data/logit-table.js';
import { readNpyFloat32Matrix } from '../data/npy.js';
import { SharedDataset } from '../data/shared-dataset.js';
import { checkEncoding, softLabelEncoding } from '../data/soft-label-store.js';
import { check } from '../errors.js';
import { type ModelData, modelFromData, shareModel } from '../models/model-data.js';
import { type InferenceModel, layersInference } from '../infer/predictor.js';
import { mixSeed, seededPermutation } from '../random.js';
import { RunCheckpoint, type RunFingerprint } from '../train/checkpoint.js';
import { datasetDigest, modelDigest } from '../teachers/fingerprint.js';
import { importSoftLabels, obtainSoftLabels } from '../labelling/soft-labels.js';
import { type CheckedModel, modelAsData } from '../models/checked-model.js';
import {
  type TeacherSource,
  openTeacher,
  teacherIdentity,
  teacherInference,
  teacherNormalization,
  teacherNotices,
} from '../teachers/open-teacher.js';
import { accuracy, agreement, describeModel, layersModelSize, predictTest } from '../infer/evaluate.js';
import { type DistillConfig, type DistillOptions, resolveConfig } from '../options/options.js';
import type { DistillReport, TrainingPhaseReport } from '../reports/report.js';
import { chooseParallelism } from '../options/parallelism.js';
import { PoolSupervisor } from '../pool/supervisor.js';
import { type PhaseValidation, type TrainOutcome, type TrainSpec, trainDataParallel } from '../train/data-parallel.js';
import type { LossSpec } from '../train/losses.js';
import type { Augmentation } from '../train/augment.js';
import type { StepRules } from '../train/lr-schedule.js';
import type { OptimizerSpec } from '../train/optimizers.js';
import type { HistoryRecord, ProgressEvent, TrainingPhase } from '../progress.js';
import { type PhasePlan, planPhase } from '../train/plan.js';

/** What {@link distill} returns: the trained models, on the calling thread, and the report. */
export interface DistillResult {
  /** The distilled student. */
  student: tf.LayersModel;
  /** The teacher (trained by the run when `teacherEpochs` > 0); absent for an ONNX teacher, which stays a file. */
  teacher?: tf.LayersModel;
  /** The hard-label baseline, when requested. */
  baseline?: tf.LayersModel;
  report: DistillReport;
}

/**
 * Distils `teacher` into `student` on a pool of worker threads:
 * 1. the data goes into shared memory once;
 * 2. the teacher is trained on the labelled rows if `teacherEpochs` > 0;
 * 3. the teacher labels every training row (its logits become the soft labels);
 * 4. the student trains data-parallel on soft labels (all rows) and hard labels (labelled rows);
 * 5. optionally, a baseline student trains on the hard labels alone with the same budget;
 * 6. every model is evaluated on the test rows.
 */
export async function distill(options: DistillOptions): Promise<DistillResult> {
  const config = resolveConfig(options);
  const reportProgress = options.onProgress ?? (() => {});
  const { signal } = options;
  // The run's history: every epoch record the workers report, then the evaluations. A phase that runs again
  // (after a restart) reports its epochs again; the later record replaces the earlier.
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

  // 1. Data, once, in shared memory. Then the models, checked against it. The student sees the labels
  //    of the first `labeled` rows only; the teacher, if trained here, sees them all.
  const train = SharedDataset.fromDataset(options.train, 'train');
  const studentTrain = config.labeled === null ? train : train.keepLabels(config.labeled);
  const test = SharedDataset.fromDataset(options.test, 'test');
  check(
    train.numClasses === test.numClasses && train.featureShape.join() === test.featureShape.join(),
    `train and test data differ: rows [${train.featureShape}] with ${train.numClasses} classes ` +
      `vs [${test.featureShape}] with ${test.numClasses}`,
  );
  check(test.labeledRows().length === test.rows, 'test data has unlabeled rows (-1); every test row needs a label');
  // A validation split comes out of the rows whose labels the student sees, before anything trains.
  const heldOut = validationRows(studentTrain.labeledRows(), config.validation, config.seed);
  const trainsOn = (rows: Int32Array) => (heldOut ? rows.filter((row) => !heldOut.set.has(row)) : rows);
  const teacherRows = trainsOn(train.labeledRows());
  const labeledRows = trainsOn(studentTrain.labeledRows());
  check(
    teacherRows.length > 0 || config.teacherEpochs === 0,
    'no training row is labelled, but training the teacher needs hard labels; label some rows or give a trained teacher',
  );
  check(
    labeledRows.length > 0 || !config.baseline,
    'no training row keeps its label, but the baseline trains on hard labels alone; label some rows or drop the baseline',
  );
  const encoding = softLabelEncoding(config);
  checkEncoding(encoding, train.numClasses);
  const allRows = trainsOn(Int32Array.from({ length: train.rows }, (_, i) => i));
  const teacherSource: TeacherSource = options.teacher === undefined ? { kind: 'none' } : await openTeacher(options.teacher, train, config);
  const studentModel = await modelAsData(options.student, 'student', train);
  const normalize = teacherNormalization(config, train.featureShape);
  const augment = augmentation(config, train.featureShape);
  // Read now, so that a bad file stops the run before any training.
  const importedTestPredictions = config.teacherTestLogits === null ? undefined : await importedPredictions(config.teacherTestLogits, test);
  let teacherData = teacherSource.kind === 'layers' ? teacherSource.checked.data : undefined;
  const checkpoints =
    options.checkpoint && (await RunCheckpoint.open(options.checkpoint, runFingerprint(config, options, teacherSource, studentModel)));
  const resumed: string[] = [];

  // Workers x BLAS threads, from the student's size where threadsPerWorker is auto.
  const { backend, kernels, barrierTimeoutMs, workerImports } = config;
  const { workers, threadsPerWorker } = chooseParallelism({
    workers: options.workers,
    threadsPerWorker: config.threadsPerWorker,
    backend,
    kernels,
    studentParams: studentModel.trainableParams,
    batchSize: config.batchSize,
  });
  config.workers = workers;
  // The pool, restarted when a worker fails in a way a fresh pool may not repeat.
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
  });

  try {
    const phases: TrainingPhaseReport[] = [];
    type PhaseSpec = Omit<TrainSpec, 'model' | 'optimizer' | 'onProgress' | 'signal' | 'trainableParams' | 'onNonFinite'>;
    const trainPhase = (from: CheckedModel, spec: PhaseSpec): Promise<ModelData> =>
      supervisor.run(spec.phase, async (pool) => {
        const saved = await checkpoints?.loadPhase(spec.phase);
        check(
          !saved || saved.steps === spec.plan.steps,
          `checkpoint ${checkpoints?.phaseFile(spec.phase)} is for ${saved?.steps} steps, this run needs ${spec.plan.steps}; ` +
            'delete the checkpoint folder',
        );
        const start = saved ? { ...from.data, weights: saved.weights } : from.data;
        let outcome: TrainOutcome;
        if (saved && (saved.progress.step === spec.plan.steps || saved.selection?.stopped)) {
          const weights = spec.validation?.keep === 'best' && saved.bestWeights ? saved.bestWeights : saved.weights;
          outcome = {
            ...saved.progress,
            steps: saved.progress.step,
            weights,
            timings: [],
            firstStepSeconds: 0,
            selection: saved.selection,
          };
          resumed.push(spec.phase);
        } else {
          if (saved) resumed.push(`${spec.phase} from step ${saved.progress.step}`);
          outcome = await trainDataParallel(pool, {
            ...spec,
            model: shareModel(start),
            trainableParams: from.trainableParams,
            ...phaseTraining(config, spec.phase),
            augment,
            onNonFinite: config.onNonFinite,
            resume: saved,
            checkpoint: checkpoints && {
              path: checkpoints.phaseFile(spec.phase),
              everySteps: checkpoints.everySteps ?? spec.plan.stepsPerEpoch,
            },
            onProgress,
            signal,
          });
        }
        phases.push(phaseReport(spec.phase, outcome, spec.plan, spec.validation));
        return { ...from.data, weights: outcome.weights };
      });
    const plan = (rows: Int32Array, size: { epochs: number } | { steps: number }) =>
      planPhase({ rows: rows.length, batchSize: config.batchSize, workers: config.workers, ...size });

    // 2. Teacher training, on the labelled rows, hard labels.
    if (config.teacherEpochs > 0 && teacherSource.kind === 'layers') {
      teacherData = await trainPhase(teacherSource.checked, {
        phase: 'teacher',
        data: train,
        rows: teacherRows,
        plan: plan(teacherRows, { epochs: config.teacherEpochs }),
        loss: { name: 'hard' },
        seed: mixSeed(config.seed, 1),
        validation: heldOut && phaseValidation(config, heldOut.rows),
      });
    }

    // 3. Labelling: the teacher's logits over every training row are the soft labels.
    //    Or the logits the user computed elsewhere.
    const teacherRun = await teacherInference(teacherSource, teacherData, normalize, config);
    const teacher = teacherRun?.model;
    const labelling =
      config.teacherLogits !== null
        ? await importSoftLabels(config.teacherLogits, train, encoding)
        : await supervisor.run('label', (pool) =>
            obtainSoftLabels(pool, {
              teacher: teacher!,
              teacherDigest: teacherIdentity(teacherSource, teacherData, config),
              data: options.train,
              shared: train,
              encoding,
              file: config.softLabels ?? checkpoints?.softLabelsFile,
              onProgress,
              signal,
            }),
          );
    if (labelling.report.reused && options.checkpoint?.resume) resumed.push('label');
    // The teacher's top class on each held-out row, for the students' agreement during training.
    const teacherTop = heldOut && labelling.table.argmax();
    const studentValidation = heldOut && {
      ...phaseValidation(config, heldOut.rows),
      teacherPredictions: heldOut.rows.map((row) => teacherTop![row]),
    };

    // 4. Distillation: soft labels on every row, hard labels where there are any.
    const studentPlan = plan(allRows, { epochs: config.epochs });
    const distilledData = await trainPhase(studentModel, {
      phase: 'student',
      data: studentTrain,
      rows: allRows,
      softLabels: labelling.table,
      plan: studentPlan,
      loss: distillationLoss(config),
      seed: mixSeed(config.seed, 2),
      validation: studentValidation,
    });

    // 5. Baseline: the same student, hard labels only, the same number of steps and the same seed.
    const baselineData = config.baseline
      ? await trainPhase(studentModel, {
          phase: 'baseline',
          data: studentTrain,
          rows: labeledRows,
          plan: plan(labeledRows, { steps: studentPlan.steps }),
          loss: { name: 'hard' },
          seed: mixSeed(config.seed, 2),
          validation: studentValidation,
        })
      : undefined;

    // 6. Evaluation on the test rows.
    let modelLoadSeconds = 0;
    const report = await supervisor.run('evaluate', async (pool) => {
      const evaluate = async (model: InferenceModel) => {
        const run = await predictTest(pool, model, test, { onProgress, signal });
        modelLoadSeconds += run.setupSeconds;
        return { model, predictions: run.predictions };
      };
      const teacherEval = teacher && (await evaluate(teacher)); // still cached in the workers
      const studentEval = await evaluate(layersInference(shareModel(distilledData)));
      const baselineEval = baselineData && (await evaluate(layersInference(shareModel(baselineData))));
      const teacherSize =
        teacherSource.kind === 'onnx'
          ? teacherSource.onnx
          : teacherSource.kind === 'graph'
            ? teacherSource.graph
            : teacherData && layersModelSize(teacherData);
      // Without a teacher model, imported test logits stand for its predictions.
      const teacherPredictions = teacherEval?.predictions ?? importedTestPredictions;
      const agreeWithTeacher = (predictions: Int32Array) => (teacherPredictions ? agreement(predictions, teacherPredictions) : null);
      const result: DistillReport = {
        backend: pool.backend,
        kernels: pool.kernels,
        workers: config.workers,
        teacherRuntime: teacherRun?.runtime ?? null,
        threadsPerWorker,
        notices: [
          ...pool.notices,
          ...teacherNotices(teacherSource),
          ...(teacherRun?.notices ?? []),
          ...(labelling.notice ? [labelling.notice] : []),
          ...skipNotices(phases),
        ],
        teacher:
          teacherEval && teacherSize
            ? await describeModel(pool, teacherEval.model, teacherSize, test, teacherEval.predictions)
            : teacherPredictions
              ? { accuracy: accuracy(teacherPredictions, test.labels), imported: true }
              : null,
        student: {
          ...(await describeModel(pool, studentEval.model, layersModelSize(distilledData), test, studentEval.predictions)),
          agreement: agreeWithTeacher(studentEval.predictions),
        },
        baseline: baselineEval && {
          accuracy: accuracy(baselineEval.predictions, test.labels),
          agreement: agreeWithTeacher(baselineEval.predictions),
        },
        throughput: {
          labelSamplesPerSec: labelling.report.importedFrom === null ? train.rows / labelling.labelSeconds : null,
          trainSamplesPerSec: phases.find((p) => p.phase === 'student')!.samplesPerSec,
          teacherTrainSamplesPerSec: phases.find((p) => p.phase === 'teacher')?.samplesPerSec,
          baselineTrainSamplesPerSec: phases.find((p) => p.phase === 'baseline')?.samplesPerSec,
          setupSeconds: supervisor.setupSeconds + labelling.setupSeconds + modelLoadSeconds,
        },
        phases,
        history: [
          ...history,
          ...(
            [
              ['teacher', teacherPredictions, null],
              ['student', studentEval.predictions, agreeWithTeacher(studentEval.predictions)],
              ['baseline', baselineEval?.predictions, baselineEval && agreeWithTeacher(baselineEval.predictions)],
            ] as const
          ).flatMap(([model, predictions, agreement]): HistoryRecord[] =>
            predictions
              ? [{ kind: 'evaluation', model, accuracy: accuracy(predictions, test.labels), ...(agreement !== null && { agreement }) }]
              : [],
          ),
        ],
        softLabels: labelling.report,
        restarts: supervisor.restarts,
        resumed,
        data: {
          trainRows: train.rows,
          labeledRows: labeledRows.length,
          teacherLabeledRows: config.teacherEpochs > 0 ? teacherRows.length : undefined,
          testRows: test.rows,
          featureShape: train.featureShape,
          numClasses: train.numClasses,
        },
        config: { ...config },
      };
      return result;
    });
    return {
      student: await modelFromData(distilledData, 'the distilled student'),
      teacher: teacherData && (await modelFromData(teacherData, 'the teacher')),
      baseline: baselineData && (await modelFromData(baselineData, 'the baseline')),
      report,
    };
  } finally {
    await supervisor.destroy();
  }
}

/**
 * What must not change between a checkpointed run and its resumption: every setting that affects the
 * result (not the worker or BLAS thread count, which only change how the same gradients are computed), and hashes of
 * the data and of the starting models.
 */
function runFingerprint(config: DistillConfig, options: DistillOptions, teacher: TeacherSource, student: CheckedModel): RunFingerprint {
  const { workers, threadsPerWorker, barrierTimeoutMs, maxRestarts, workerMemoryMb, workerImports, softLabels, optimizer, ...settings } =
    config;
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
    teacher:
      teacher.kind === 'layers'
        ? modelDigest(teacher.checked.data)
        : teacher.kind === 'none'
          ? null
          : teacher.kind === 'onnx'
            ? teacher.onnx.digest
            : teacher.digest,
    student: modelDigest(student.data),
  };
}

function skipNotices(phases: TrainingPhaseReport[]): string[] {
  return phases
    .filter((p) => p.skippedSteps > 0)
    .map((p) => `${p.phase} training skipped ${p.skippedSteps} of ${p.steps} steps whose averaged gradient was not finite`);
}

/** The augmentation of image rows, or undefined when none is asked for (an error for rows that are not images). */
function augmentation(config: DistillConfig, featureShape: number[]): Augmentation | undefined {
  const given = config.augment;
  if (!given || (!given.shift && !given.flip)) return undefined;
  check(
    featureShape.length === 2 || featureShape.length === 3,
    `augment shifts and flips images, but the rows have shape [${featureShape}]; drop augment for feature rows`,
    ['augment'],
  );
  return { shift: given.shift ?? 0, flip: given.flip ?? false };
}

/** A phase's optimizer and step rules: the teacher's own where `teacherTraining` sets them, else the run's. */
function phaseTraining(config: DistillConfig, phase: TrainingPhase): { optimizer: OptimizerSpec; rules: StepRules } {
  const own = phase === 'teacher' ? config.teacherTraining : {};
  return {
    optimizer: { ...config.optimizer, ...Object.fromEntries(Object.entries(own.optimizer ?? {}).filter(([, v]) => v !== undefined)) },
    rules: {
      lrSchedule: own.lrSchedule ?? config.lrSchedule,
      weightDecay: own.weightDecay ?? config.weightDecay,
      clipNorm: own.clipNorm === undefined ? config.clipNorm : own.clipNorm,
    },
  };
}

/** The student's objective, from the `loss` option with the run's temperature and alpha. */
function distillationLoss(config: DistillConfig): LossSpec {
  const { loss, temperature, alpha } = config;
  if (typeof loss === 'object' && 'module' in loss) {
    const module = importSpecifier(loss.module);
    return { name: 'custom', module, temperature, alpha, options: loss.options ?? {} };
  }
  const name = typeof loss === 'string' ? loss : loss.name;
  if (name === 'dkd') {
    const weights: { targetWeight?: number; nonTargetWeight?: number } =
      typeof loss === 'object' && 'name' in loss && loss.name === 'dkd' ? loss : {};
    return { name, temperature, alpha, targetWeight: weights.targetWeight ?? 1, nonTargetWeight: weights.nonTargetWeight ?? 8 };
  }
  return name === 'mse-logits' ? { name, alpha } : { name: 'kd', temperature, alpha };
}

/** The top-1 classes of test logits computed elsewhere (teacherTestLogits). */
async function importedPredictions(file: string, test: SharedDataset): Promise<Int32Array> {
  const matrix = await readNpyFloat32Matrix(file, { rows: test.rows, columns: test.numClasses });
  const table = LogitTable.create(test.rows, test.numClasses);
  table.values.set(matrix.data);
  return table.argmax();
}

/** The held-out rows of a validation split (`validation`: a count or a fraction of `labelled`), seeded. */
function validationRows(labelled: Int32Array, validation: number | null, seed: number): { rows: Int32Array; set: Set<number> } | undefined {
  if (validation === null) return undefined;
  const count = validation < 1 ? Math.round(validation * labelled.length) : validation;
  check(
    count >= 1 && count < labelled.length,
    `validation ${validation} leaves ${count} of the ${labelled.length} labelled rows for validation; ` +
      'it needs at least 1 and fewer than all',
    ['validation'],
  );
  const order = seededPermutation(labelled.length, mixSeed(seed, 3));
  const rows = Int32Array.from(order.subarray(0, count), (i) => labelled[i]).sort();
  return { rows, set: new Set(rows) };
}

/** What a phase's per-epoch validation needs, from the run's options. */
function phaseValidation(config: DistillConfig, rows: Int32Array): PhaseValidation {
  return {
    rows,
    earlyStopping: config.earlyStopping && { patience: config.earlyStopping.patience, metric: config.earlyStopping.metric ?? 'accuracy' },
    metric: config.earlyStopping?.metric ?? 'accuracy',
    keep: config.keep ?? 'best',
  };
}

function phaseReport(
  phase: TrainingPhaseReport['phase'],
  outcome: TrainOutcome,
  plan: PhasePlan,
  validation?: PhaseValidation,
): TrainingPhaseReport {
  const { selection } = outcome;
  const epochs = Math.ceil(outcome.steps / plan.stepsPerEpoch);
  return {
    ...(selection &&
      validation && {
        selection: {
          metric: validation.metric,
          bestEpoch: selection.bestEpoch,
          bestValue: selection.bestValue,
          keptEpoch: validation.keep === 'best' ? selection.bestEpoch : epochs,
          epochs,
          stoppedEarly: selection.stopped,
        },
      }),
    phase,
    steps: outcome.steps,
    samples: outcome.samples,
    seconds: outcome.seconds,
    samplesPerSec: outcome.samples / outcome.seconds,
    finalLoss: outcome.finalLoss,
    skippedSteps: outcome.skippedSteps,
    stepMs: outcome.stepMs,
  };
}
