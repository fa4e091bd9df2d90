import * as tf from '@tensorflow/tfjs';
import { SharedDataset } from '../data/shared-dataset.js';
import { type SoftLabelEncoding, checkEncoding } from '../data/soft-label-store.js';
import { check } from '../errors.js';
import { type ModelData, modelFromData, modelToData, shareModel } from '../models/model-data.js';
import { readModelData } from '../models/model-files.js';
import { checkModelFitsData } from '../models/model-shape.js';
import { mixSeed } from '../random.js';
import { RunCheckpoint, type RunFingerprint } from '../train/checkpoint.js';
import { datasetDigest, modelDigest } from './fingerprint.js';
import { obtainSoftLabels } from './soft-labels.js';
import { accuracy, agreement, describeModel, predictTest } from '../infer/evaluate.js';
import { type DistillConfig, type DistillOptions, resolveConfig } from './options.js';
import type { DistillReport, TrainingPhaseReport } from './report.js';
import { PoolSupervisor } from './supervisor.js';
import { type TrainOutcome, type TrainSpec, trainDataParallel } from '../train/data-parallel.js';
import { planPhase } from '../train/plan.js';

/** What {@link distill} returns: the trained models, on the calling thread, and the report. */
export interface DistillResult {
  /** The distilled student. */
  student: tf.LayersModel;
  /** The teacher (trained by the run when `teacherEpochs` > 0). */
  teacher: tf.LayersModel;
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
  const onProgress = options.onProgress ?? (() => {});
  const { signal } = options;

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
  const teacherRows = train.labeledRows();
  const labeledRows = studentTrain.labeledRows();
  check(
    teacherRows.length > 0 || config.teacherEpochs === 0,
    'no training row is labelled, but training the teacher needs hard labels; label some rows or give a trained teacher',
  );
  check(
    labeledRows.length > 0 || !config.baseline,
    'no training row keeps its label, but the baseline trains on hard labels alone; label some rows or drop the baseline',
  );
  const encoding: SoftLabelEncoding =
    config.softLabelTopK === null ? { kind: 'float32' } : { kind: 'top-k', k: config.softLabelTopK, temperature: config.temperature };
  checkEncoding(encoding, train.numClasses);
  const allRows = Int32Array.from({ length: train.rows }, (_, i) => i);
  const teacherModel = await modelAsData(options.teacher, 'teacher', train);
  const studentModel = await modelAsData(options.student, 'student', train);
  let teacherData = teacherModel.data;
  const checkpoints =
    options.checkpoint && (await RunCheckpoint.open(options.checkpoint, runFingerprint(config, options, teacherModel, studentModel)));
  const resumed: string[] = [];

  // The pool, restarted when a worker fails in a way a fresh pool may not repeat.
  const { workers, backend, kernels, barrierTimeoutMs, workerImports } = config;
  const supervisor = new PoolSupervisor({
    pool: { workers, backend, kernels, barrierTimeoutMs, workerImports, workerMemoryMb: config.workerMemoryMb ?? undefined },
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
        if (saved && saved.progress.step === spec.plan.steps) {
          outcome = { ...saved.progress, steps: saved.progress.step, weights: saved.weights, timings: [], firstStepSeconds: 0 };
          resumed.push(spec.phase);
        } else {
          if (saved) resumed.push(`${spec.phase} from step ${saved.progress.step}`);
          outcome = await trainDataParallel(pool, {
            ...spec,
            model: shareModel(start),
            trainableParams: from.trainableParams,
            optimizer: config.optimizer,
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
        phases.push(phaseReport(spec.phase, outcome));
        return { ...from.data, weights: outcome.weights };
      });
    const plan = (rows: Int32Array, size: { epochs: number } | { steps: number }) =>
      planPhase({ rows: rows.length, batchSize: config.batchSize, workers: config.workers, ...size });

    // 2. Teacher training, on the labelled rows, hard labels.
    if (config.teacherEpochs > 0) {
      teacherData = await trainPhase(teacherModel, {
        phase: 'teacher',
        data: train,
        rows: teacherRows,
        plan: plan(teacherRows, { epochs: config.teacherEpochs }),
        loss: { name: 'hard' },
        seed: mixSeed(config.seed, 1),
      });
    }

    // 3. Labelling: the teacher's logits over every training row are the soft labels.
    const teacher = shareModel(teacherData);
    const labelling = await supervisor.run('label', (pool) =>
      obtainSoftLabels(pool, {
        teacher,
        teacherData,
        data: options.train,
        shared: train,
        encoding,
        file: config.softLabels ?? checkpoints?.softLabelsFile,
        onProgress,
        signal,
      }),
    );
    if (labelling.report.reused && options.checkpoint?.resume) resumed.push('label');

    // 4. Distillation: soft labels on every row, hard labels where there are any.
    const studentPlan = plan(allRows, { epochs: config.epochs });
    const distilledData = await trainPhase(studentModel, {
      phase: 'student',
      data: studentTrain,
      rows: allRows,
      softLabels: labelling.table,
      plan: studentPlan,
      loss: { name: 'kd', temperature: config.temperature, alpha: config.alpha },
      seed: mixSeed(config.seed, 2),
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
        })
      : undefined;

    // 6. Evaluation on the test rows.
    let modelLoadSeconds = 0;
    const report = await supervisor.run('evaluate', async (pool) => {
      const evaluate = async (data: ModelData, model = shareModel(data)) => {
        const run = await predictTest(pool, model, test, { onProgress, signal });
        modelLoadSeconds += run.setupSeconds;
        return { model, predictions: run.predictions };
      };
      const teacherEval = await evaluate(teacherData, teacher); // still cached in the workers
      const studentEval = await evaluate(distilledData);
      const baselineEval = baselineData && (await evaluate(baselineData));
      const result: DistillReport = {
        backend: pool.backend,
        kernels: pool.kernels,
        workers: config.workers,
        notices: [...pool.notices, ...(labelling.notice ? [labelling.notice] : []), ...skipNotices(phases)],
        teacher: await describeModel(pool, teacherEval.model, teacherData, test, teacherEval.predictions),
        student: {
          ...(await describeModel(pool, studentEval.model, distilledData, test, studentEval.predictions)),
          agreement: agreement(studentEval.predictions, teacherEval.predictions),
        },
        baseline: baselineEval && {
          accuracy: accuracy(baselineEval.predictions, test.labels),
          agreement: agreement(baselineEval.predictions, teacherEval.predictions),
        },
        throughput: {
          labelSamplesPerSec: train.rows / labelling.labelSeconds,
          trainSamplesPerSec: phases.find((p) => p.phase === 'student')!.samplesPerSec,
          teacherTrainSamplesPerSec: phases.find((p) => p.phase === 'teacher')?.samplesPerSec,
          baselineTrainSamplesPerSec: phases.find((p) => p.phase === 'baseline')?.samplesPerSec,
          setupSeconds: supervisor.setupSeconds + labelling.setupSeconds + modelLoadSeconds,
        },
        phases,
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
      teacher: await modelFromData(teacherData, 'the teacher'),
      baseline: baselineData && (await modelFromData(baselineData, 'the baseline')),
      report,
    };
  } finally {
    await supervisor.destroy();
  }
}

/**
 * What must not change between a checkpointed run and its resumption: every setting that affects the
 * result (not the worker count, which only changes how the same gradients are computed), and hashes of
 * the data and of the starting models.
 */
function runFingerprint(config: DistillConfig, options: DistillOptions, teacher: CheckedModel, student: CheckedModel): RunFingerprint {
  const { workers, barrierTimeoutMs, maxRestarts, workerMemoryMb, workerImports, softLabels, optimizer, ...settings } = config;
  return {
    ...settings,
    optimizer: optimizer.name,
    learningRate: optimizer.learningRate,
    trainData: datasetDigest(options.train),
    testData: datasetDigest(options.test),
    teacher: modelDigest(teacher.data),
    student: modelDigest(student.data),
  };
}

function skipNotices(phases: TrainingPhaseReport[]): string[] {
  return phases
    .filter((p) => p.skippedSteps > 0)
    .map((p) => `${p.phase} training skipped ${p.skippedSteps} of ${p.steps} steps whose averaged gradient was not finite`);
}

/** A model as data, checked against the data, with the length of the gradient the ranks average. */
export interface CheckedModel {
  data: ModelData;
  trainableParams: number;
}

export async function modelAsData(model: tf.LayersModel | string, role: string, train: SharedDataset): Promise<CheckedModel> {
  const instance = typeof model === 'string' ? await modelFromData(await readModelData(model), model) : model;
  checkModelFitsData(instance, role, train.featureShape, train.numClasses);
  const data = await modelToData(instance);
  const trainableParams = instance.trainableWeights.reduce((sum, w) => sum + tf.util.sizeFromShape(w.shape as number[]), 0);
  if (typeof model === 'string') instance.dispose();
  return { data, trainableParams };
}

function phaseReport(phase: TrainingPhaseReport['phase'], outcome: TrainOutcome): TrainingPhaseReport {
  return {
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
