import type * as tf from '@tensorflow/tfjs';
import type { LogitTable } from '../data/logit-table.js';
import { importSoftLabels, obtainSoftLabels, type SoftLabels } from '../labelling/soft-labels.js';
import type { CheckedModel } from '../models/checked-model.js';
import { type ModelData, modelFromData } from '../models/model-data.js';
import type { PoolKeeper } from '../pool/pool-keeper.js';
import { type DistillConfig, type DistillOptions, resolveConfig } from '../options/options.js';
import { mixSeed } from '../random.js';
import { lossSpecOf } from '../train/losses.js';
import type { DistillReport } from '../reports/report.js';
import { teacherIdentity, teacherInference } from '../teachers/open-teacher.js';
import type { TeacherOnRuntime } from '../teachers/teacher-runtime.js';
import type { PhaseValidation } from '../train/data-parallel.js';
import { type RunContext, startRun } from './run-context.js';
import { type HeldOutRows, type RunData, type RunInputs, openInputs, shareData, teacherDatasets } from './run-inputs.js';
import { refuseTeacherAtChance, teacherCheck } from './teacher-check.js';
import type { MeasureOnce } from './measure-once.js';
import { evaluateOnTest } from './test-evaluation.js';
import { phasePlan, phaseValidation, trainPhase } from './training-phase.js';

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
export function distill(options: DistillOptions): Promise<DistillResult> {
  return distillOnKeptPools(options, undefined);
}

/**
 * {@link distill}, its pool taken from `keeper` and, when the run ends, given back to it (a pool that failed is
 * stopped instead), and what runs share measured once (`once`): a sweep's trials.
 */
export async function distillOnKeptPools(
  options: DistillOptions,
  keeper: PoolKeeper | undefined,
  once?: MeasureOnce,
): Promise<DistillResult> {
  const config = resolveConfig(options);

  // 1. Data, once, in shared memory. Then the models, checked against it; then the checkpoints and the pool.
  const data = shareData(options, config);
  const inputs = await openInputs(options, config, data);
  const run = await startRun(options, config, inputs, keeper);
  try {
    // 2. Teacher training, on the labelled rows, hard labels.
    const teacherData = await trainTeacher(run, data, inputs);

    // 3. Labelling: the teacher's logits over every training row are the soft labels, or the logits the
    //    user computed elsewhere.
    const { teacherRun, labelling } = await labelTrainingRows(run, data, inputs, teacherData);
    //    Its logits are in hand: a teacher near chance on the labelled rows stops the run here.
    const checked = teacherCheck(labelling.table, data.train, data.heldOut?.rows);
    const atChance = refuseTeacherAtChance(checked, {
      allowWeakTeacher: config.allowWeakTeacher,
      trainedByRun: teacherData !== undefined && config.teacherEpochs > 0,
      imported: config.teacherLogits !== null,
    });
    const validation = studentValidation(config, data.heldOut, labelling.table);

    // 4. Distillation: soft labels on every row, hard labels where there are any.
    const student = await distilStudent(run, data, inputs.student, labelling.table, validation);

    // 5. Baseline: the same student, hard labels only, the same number of steps and the same seed.
    const baselineData = config.baseline ? await trainBaseline(run, data, inputs.student, validation, student.steps) : undefined;

    // 6. Evaluation on the test rows.
    const distilledData = student.data;
    const trained = { teacherRun, teacherData, labelling, distilledData, baselineData };
    const findings = { found: checked, warnings: atChance ? [atChance] : [] };
    const report = await evaluateOnTest(run, data, inputs, trained, findings, once);
    return {
      student: await modelFromData(distilledData, 'the distilled student'),
      teacher: teacherData && (await modelFromData(teacherData, 'the teacher')),
      baseline: baselineData && (await modelFromData(baselineData, 'the baseline')),
      report,
    };
  } finally {
    await run.supervisor.release();
  }
}

/** Trains a layers teacher on the labelled rows when `teacherEpochs` > 0; returns its weights (given or trained). */
async function trainTeacher(run: RunContext, data: RunData, inputs: RunInputs): Promise<ModelData | undefined> {
  const { config } = run;
  const teacher = inputs.teacher;
  if (teacher.kind !== 'layers') return undefined;
  if (config.teacherEpochs <= 0) return teacher.checked.data; // given trained: used as it is
  return trainPhase(run, teacher.checked, {
    phase: 'teacher',
    data: data.teacherTrain,
    rows: data.teacherRows,
    plan: phasePlan(run, teacher.checked, data.teacherRows, { epochs: config.teacherEpochs }),
    loss: { name: 'hard' },
    seed: mixSeed(config.seed, 1),
    validation: data.heldOut && phaseValidation(config, data.heldOut.rows),
  });
}

/**
 * The soft labels of every training row: the teacher's logits (read from the soft-label file when it holds
 * this teacher's), or those imported from teacherLogits.
 */
async function labelTrainingRows(
  run: RunContext,
  data: RunData,
  inputs: RunInputs,
  teacherData: ModelData | undefined,
): Promise<{ teacherRun: TeacherOnRuntime | undefined; labelling: SoftLabels }> {
  const { config, checkpoints, options, onProgress } = run;
  const teacherRun = await teacherInference(inputs.teacher, teacherData, inputs.teacherNormalize, config);
  const teacher = teacherRun?.model;
  const labelling =
    config.teacherLogits !== null
      ? await importSoftLabels(config.teacherLogits, data.train, data.encoding)
      : await run.supervisor.run('label', (pool) =>
          obtainSoftLabels(pool, {
            teacher: teacher!,
            teacherDigest: teacherIdentity(inputs.teacher, teacherData, config),
            data: teacherDatasets(options, config).train,
            shared: data.teacherTrain,
            encoding: data.encoding,
            file: config.softLabels ?? checkpoints?.softLabelsFile,
            onProgress,
            signal: options.signal,
          }),
        );
  if (labelling.report.reused && options.checkpoint?.resume) run.resumed.push('label');
  return { teacherRun, labelling };
}

/** The students' validation: the held-out rows, with the teacher's top class on each for their agreement. */
function studentValidation(config: DistillConfig, heldOut: HeldOutRows | undefined, softLabels: LogitTable): PhaseValidation | undefined {
  const teacherTop = heldOut && softLabels.argmax();
  return (
    heldOut && {
      ...phaseValidation(config, heldOut.rows),
      teacherPredictions: heldOut.rows.map((row) => teacherTop![row]),
    }
  );
}

/** Trains the student on the soft labels of every row and the hard labels it sees; returns it and its step count. */
async function distilStudent(
  run: RunContext,
  data: RunData,
  student: CheckedModel,
  softLabels: LogitTable,
  validation: PhaseValidation | undefined,
): Promise<{ data: ModelData; steps: number }> {
  const { config } = run;
  const plan = phasePlan(run, student, data.allRows, { epochs: config.epochs });
  const distilled = await trainPhase(run, student, {
    phase: 'student',
    data: data.studentTrain,
    rows: data.allRows,
    softLabels,
    plan,
    loss: lossSpecOf(config.loss, config),
    seed: mixSeed(config.seed, 2),
    validation,
  });
  return { data: distilled, steps: plan.steps };
}

/** Trains the student's architecture on the hard labels alone, for `steps` steps (the student's) and its seed. */
function trainBaseline(
  run: RunContext,
  data: RunData,
  student: CheckedModel,
  validation: PhaseValidation | undefined,
  steps: number,
): Promise<ModelData> {
  const { config } = run;
  return trainPhase(run, student, {
    phase: 'baseline',
    data: data.studentTrain,
    rows: data.labeledRows,
    plan: phasePlan(run, student, data.labeledRows, { steps }),
    loss: { name: 'hard' },
    seed: mixSeed(config.seed, 2),
    validation,
  });
}
