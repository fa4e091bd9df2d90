// Stage 6 of distill(): every model evaluated on the test rows, and the run's report.
import { classificationScores } from '../infer/class-scores.js';
import { accuracy, agreement, describeModel, layersModelSize, modelLatency, predictTest } from '../infer/evaluate.js';
import { layersInference } from '../infer/predictor.js';
import { type ModelData, shareModel } from '../models/model-data.js';
import type { HistoryRecord } from '../progress.js';
import type { DistillReport, TeacherCheckReport, TrainingPhaseReport } from '../reports/report.js';
import type { SoftLabels } from '../labelling/soft-labels.js';
import { teacherNotices } from '../teachers/open-teacher.js';
import type { TeacherOnRuntime } from '../teachers/teacher-runtime.js';
import { type Evaluate, type MeasureOnce, latencyMeasureKey, measureEveryTime, measuringPool, teacherOnTest } from './measure-once.js';
import type { RunContext } from './run-context.js';
import { traced } from '../trace.js';
import type { RunData, RunInputs } from './run-inputs.js';
import { weakTeacherWarning } from './teacher-check.js';

/** What the stages before the evaluation produced. */
export interface TrainedModels {
  /** The teacher as the workers run it; absent without a teacher model (imported logits). */
  teacherRun: TeacherOnRuntime | undefined;
  /** A layers teacher's weights, trained by the run when it trained one. */
  teacherData: ModelData | undefined;
  labelling: SoftLabels;
  distilledData: ModelData;
  baselineData: ModelData | undefined;
}

/** The teacher's check on the labelled training rows, and the warnings the run has so far. */
export interface TeacherFindings {
  found: TeacherCheckReport | undefined;
  warnings: string[];
}

/** Evaluates the teacher, the student and the baseline on the test rows, and reports the run. */
export async function evaluateOnTest(
  run: RunContext,
  data: RunData,
  inputs: RunInputs,
  trained: TrainedModels,
  teacherFindings: TeacherFindings,
  once: MeasureOnce = measureEveryTime,
): Promise<DistillReport> {
  const { config, supervisor, phases, onProgress } = run;
  const { signal } = run.options;
  const { train, test, teacherRows, labeledRows } = data;
  const { teacherRun, teacherData, labelling, distilledData, baselineData } = trained;
  const teacherSource = inputs.teacher;
  let modelLoadSeconds = 0;
  return supervisor.run('evaluate', async (pool) => {
    const evaluate: Evaluate = async (model, rows = test) => {
      const prediction = await predictTest(pool, model, rows, { onProgress, signal });
      modelLoadSeconds += prediction.setupSeconds;
      return { predictions: prediction.predictions };
    };
    // The same teacher on the same rows in every trial of a sweep: measured once (see MeasureOnce).
    const teacherEval =
      teacherRun &&
      (await teacherOnTest(
        once,
        pool,
        run.threadsPerWorker,
        evaluate,
        { ...teacherRun, source: teacherSource, data: teacherData },
        config,
        data,
      ));
    const student = layersInference(shareModel(distilledData));
    const studentEval = await evaluate(student);
    const baselineEval = baselineData && (await evaluate(layersInference(shareModel(baselineData))));
    // A model's latency follows from its architecture and the backend, not its weights (the baseline shares it).
    const studentLatency = await once(latencyMeasureKey(measuringPool(pool, run.threadsPerWorker), distilledData), () =>
      traced('student latency', () => modelLatency(pool, student, test)),
    );
    // Without a teacher model, imported test logits stand for its predictions.
    const teacherPredictions = teacherEval?.predictions ?? inputs.importedTestPredictions;
    const agreeWithTeacher = (predictions: Int32Array) => (teacherPredictions ? agreement(predictions, teacherPredictions) : null);
    const scores = (predictions: Int32Array) => classificationScores(predictions, test.labels, test.numClasses);
    const testAccuracy = (predictions: Int32Array | undefined) => predictions && accuracy(predictions, test.labels);
    const belowBaseline = weakTeacherWarning(teacherFindings.found, phases, run.history, {
      teacher: testAccuracy(teacherPredictions),
      baseline: testAccuracy(baselineEval?.predictions),
    });
    const result: DistillReport = {
      ...pool.tfjsRuntime(),
      workers: config.workers,
      // The student phase's own count: a phase its checkpoint shows finished ran on the checkpoint's.
      trainWorkers: phases.find((p) => p.phase === 'student')!.workers,
      teacherRuntime: teacherRun?.runtime ?? null,
      threadsPerWorker: run.threadsPerWorker,
      notices: [
        ...pool.notices,
        ...teacherNotices(teacherSource),
        ...(teacherRun?.notices ?? []),
        ...(labelling.notice ? [labelling.notice] : []),
        ...phaseNotices(phases),
      ],
      warnings: [...teacherFindings.warnings, ...(belowBaseline ? [belowBaseline] : [])],
      ...(teacherFindings.found && { teacherCheck: teacherFindings.found }),
      // A copy: the measurement is shared by every trial of a sweep, and a report is the caller's to change.
      teacher:
        (teacherEval?.report && structuredClone(teacherEval.report)) ??
        (teacherPredictions
          ? { accuracy: accuracy(teacherPredictions, test.labels), imported: true, ...scores(teacherPredictions) }
          : null),
      student: {
        ...(await describeModel(pool, student, layersModelSize(distilledData), test, studentEval.predictions, studentLatency)),
        agreement: agreeWithTeacher(studentEval.predictions),
      },
      baseline: baselineEval && {
        accuracy: accuracy(baselineEval.predictions, test.labels),
        ...scores(baselineEval.predictions),
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
        ...run.history,
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
      resumed: run.resumed,
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
}

function phaseNotices(phases: TrainingPhaseReport[]): string[] {
  const ranks = (count: number) => `${count} training worker${count === 1 ? '' : 's'}`;
  return phases.flatMap((p) => [
    ...(p.skippedSteps > 0
      ? [`${p.phase} training skipped ${p.skippedSteps} of ${p.steps} steps whose averaged gradient was not finite`]
      : []),
    ...(p.checkpointWorkers !== undefined
      ? [`${p.phase} training continued on ${ranks(p.workers)} from a checkpoint trained on ${ranks(p.checkpointWorkers)}`]
      : []),
    ...(p.runWorkers !== undefined
      ? [`${p.phase} training was finished in a checkpoint trained on ${ranks(p.workers)}, not again on this run's ${p.runWorkers}`]
      : []),
  ]);
}
