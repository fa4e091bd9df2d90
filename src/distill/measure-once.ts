// Measurements that do not change from run to run of a sweep, made once: the teacher on the test rows (the
// same teacher, the same rows in every trial) and the latency of each student architecture (the time a
// prediction takes follows from the architecture and the backend, not from the weights). A sweep whose trials
// run side by side measures both before they need them (measureBeforeRuns); one trial at a time, the first
// trial measures the teacher and the first of an architecture times it; every other trial reuses both.
import type { SharedDataset } from '../data/shared-dataset.js';
import { accuracy, agreement, describeModel, modelLatency, predictTest } from '../infer/evaluate.js';
import { layersInference } from '../infer/predictor.js';
import { modelAsData } from '../models/checked-model.js';
import { shareModel } from '../models/model-data.js';
import type { InferenceModel } from '../infer/predictor.js';
import type { ModelData } from '../models/model-data.js';
import { type DistillConfig, type DistillOptions, resolveConfig } from '../options/options.js';
import type { PoolKeeper } from '../pool/pool-keeper.js';
import type { TfjsPool } from '../pool/tfjs-pool.js';
import type { EnsembleReport, TeacherMemberReport, TeacherReport } from '../reports/report.js';
import { type TeacherSource, teacherIdentity, teacherInference, teacherMembers, teacherModelSize } from '../teachers/open-teacher.js';
import { type RunContext, startRun } from './run-context.js';
import type { CheckedModel } from '../models/checked-model.js';
import { mixSeed } from '../random.js';
import { LogitTable } from '../data/logit-table.js';
import { trainDataParallel } from '../train/data-parallel.js';
import { lossSpecOf } from '../train/losses.js';
import { planPhase } from '../train/plan.js';
import { trace, traced } from '../trace.js';
import { type RunData, openInputs, shareData } from './run-inputs.js';

/**
 * Measures once what does not change between the runs that share it, and hands that measurement to every
 * later request with the same key. A key names everything the measurement depends on but the rows, which
 * the runs sharing one MeasureOnce (a sweep's trials) have in common.
 */
export type MeasureOnce = <T>(key: string, measure: () => Promise<T>) => Promise<T>;

/** A lone run measures everything itself. */
export const measureEveryTime: MeasureOnce = (_key, measure) => measure();

/**
 * A {@link MeasureOnce} that keeps each measurement. A failed one is dropped and only the request that made it
 * sees its error: a request that was waiting for it measures for itself instead (the failure belongs to the
 * run whose pool made it, not to a healthy run that was waiting).
 */
export function measuredOnce(): MeasureOnce {
  const measured = new Map<string, Promise<unknown>>();
  const request = <T>(key: string, measure: () => Promise<T>): Promise<T> => {
    const made = measured.get(key) as Promise<T> | undefined;
    if (made) return made.catch(() => request(key, measure));
    const making = measure();
    measured.set(key, making);
    // Registered before any waiter's fallback, so that the fallback finds the key free.
    making.catch(() => {
      if (measured.get(key) === making) measured.delete(key);
    });
    return making;
  };
  return request;
}

/** The teacher on the test rows: its top classes, and its report (size, latency, ensemble members) when it has a model size. */
export interface TeacherOnTest {
  /** The teacher's top class for each test row: what the students' agreement is measured against. */
  predictions: Int32Array;
  /** The teacher's figures for report.json; undefined when it has no model size (imported logits have none). */
  report: TeacherReport | undefined;
}

/** What runs the measurements: the pool's backend and kernels, and the OpenBLAS threads per worker. */
export interface MeasuringPool {
  backend: TfjsPool['backend'];
  kernels: TfjsPool['kernels'];
  threadsPerWorker: number;
}

/** What `pool` (run with `threadsPerWorker` OpenBLAS threads) runs measurements on. */
export function measuringPool(pool: TfjsPool, threadsPerWorker: number): MeasuringPool {
  return { backend: pool.backend, kernels: pool.kernels, threadsPerWorker };
}

const runsOn = (pool: MeasuringPool) => [pool.backend, pool.kernels, pool.threadsPerWorker];

/**
 * What the teacher's test predictions and latency depend on: its model and preprocessing, how an ensemble
 * combines, the runtime and the pool that run it.
 */
function teacherMeasureKey(
  source: TeacherSource,
  data: ModelData | undefined,
  config: DistillConfig,
  runtime: string | undefined,
  pool: MeasuringPool,
): string {
  return `teacher:${JSON.stringify([teacherIdentity(source, data, config), config.ensemble, runtime ?? null, runsOn(pool)])}`;
}

/** What a model's latency depends on: its architecture, and the pool's backend, kernels and threads. */
export function latencyMeasureKey(pool: MeasuringPool, model: ModelData): string {
  return `latency:${JSON.stringify([...runsOn(pool), model.topology])}`;
}

/** Test predictions of a model in the pool (test rows unless given). */
export type Evaluate = (model: InferenceModel, rows?: SharedDataset) => Promise<{ predictions: Int32Array }>;

/** A teacher as the workers run it: its model on its runtime, where it came from, and its trained weights. */
export interface TeacherToMeasure {
  model: InferenceModel;
  runtime: string | undefined;
  source: TeacherSource;
  data: ModelData | undefined;
}

/**
 * The teacher on its test rows, through `once` under the key of everything it depends on: the sweep's
 * measurement made before its trials and each trial's request share this one key.
 */
export function teacherOnTest(
  once: MeasureOnce,
  pool: TfjsPool,
  threadsPerWorker: number,
  evaluate: Evaluate,
  teacher: TeacherToMeasure,
  config: DistillConfig,
  rows: { teacherTest: SharedDataset; test: SharedDataset },
): Promise<TeacherOnTest> {
  const key = teacherMeasureKey(teacher.source, teacher.data, config, teacher.runtime, measuringPool(pool, threadsPerWorker));
  return once(key, () => traced('teacherOnTest', () => measureTeacherOnTest(pool, evaluate, teacher, rows)));
}

/** The teacher on its test rows: predictions, each ensemble member's, and its latency and size. */
async function measureTeacherOnTest(
  pool: TfjsPool,
  evaluate: Evaluate,
  teacher: TeacherToMeasure,
  rows: { teacherTest: SharedDataset; test: SharedDataset },
): Promise<TeacherOnTest> {
  const { model, source, data } = teacher;
  const { predictions } = await evaluate(model, rows.teacherTest);
  const members = teacherMembers(source);
  const ensemble = await evaluateMembers({ model, predictions }, members, (member) => evaluate(member, rows.teacherTest), rows.test.labels);
  const size = teacherModelSize(source, data);
  const described = size && (await describeModel(pool, model, size, rows.teacherTest, predictions));
  return { predictions, report: described && { ...described, ...(ensemble && { ensemble }) } };
}

/** Each member of an ensemble teacher alone on the test rows (its accuracy, its agreement with the ensemble); undefined otherwise. */
async function evaluateMembers(
  teacher: { model: InferenceModel; predictions: Int32Array },
  names: string[] | undefined,
  evaluate: (model: InferenceModel) => Promise<{ predictions: Int32Array }>,
  labels: Int32Array,
): Promise<EnsembleReport | undefined> {
  const { model } = teacher;
  if (model.kind !== 'ensemble' || !names) return undefined;
  const members: TeacherMemberReport[] = [];
  for (const [index, member] of model.members.entries()) {
    const { predictions } = await evaluate(member);
    members.push({ name: names[index], accuracy: accuracy(predictions, labels), agreement: agreement(predictions, teacher.predictions) });
  }
  return { combine: model.combine, members };
}

/**
 * The most steps a student trains on a thread before its latency is timed there ahead of the runs: a trial's
 * first epoch, up to this many.
 */
export const LATENCY_WARM_STEPS = 64;

/**
 * Trains `student` on the pool's first thread (zero soft labels, the run's loss and optimizer; the weights
 * are thrown away) for an epoch, up to LATENCY_WARM_STEPS steps, so that its latency is timed there as on a
 * thread that has just trained it, as a lone run times it: timed on a thread that had labelled and predicted
 * but not trained, a small student's batch-1 time came out several times longer, and predictions alone
 * before the timing did not close the gap.
 */
async function trainToWarm(run: RunContext, pool: TfjsPool, data: RunData, student: CheckedModel): Promise<void> {
  const { config } = run;
  const softLabels = LogitTable.create(data.train.rows, data.train.numClasses);
  softLabels.values.fill(0);
  const epoch = Math.ceil(data.allRows.length / config.batchSize);
  await trainDataParallel(pool.firstRanks(1), {
    phase: 'student',
    model: shareModel(student.data),
    trainableParams: student.trainableParams,
    data: data.studentTrain,
    rows: data.allRows,
    plan: planPhase({ rows: data.allRows.length, batchSize: config.batchSize, workers: 1, steps: Math.min(epoch, LATENCY_WARM_STEPS) }),
    softLabels,
    loss: lossSpecOf(config.loss, config),
    optimizer: config.optimizer,
    rules: { lrSchedule: config.lrSchedule, weightDecay: config.weightDecay, clipNorm: config.clipNorm },
    seed: mixSeed(config.seed, 2),
    onNonFinite: 'skip',
    augment: run.augment,
    onProgress: () => {},
    signal: run.options.signal,
  });
}

/** What {@link measureBeforeRuns} measures. */
export interface MeasuredBeforeRuns {
  /** The teacher on the test rows (default true). */
  teacher?: boolean;
  /** Students whose latency on a worker to time, as built before training (default none). */
  students?: DistillOptions['student'][];
}

/**
 * Makes into `once`, before the runs of `options` (a sweep's trials) need it, what they would each measure
 * the same, on a pool from `keeper`: the teacher's test predictions and latency, and the latency of each of
 * `what.students` (the runs' architectures: a prediction's time follows from the architecture, not the
 * weights), each timed after training it for a while on the thread that times it (see trainToWarm). A layers
 * teacher is taken as given (teacherEpochs 0, as a sweep's).
 */
export async function measureBeforeRuns(
  options: DistillOptions,
  keeper: PoolKeeper | undefined,
  once: MeasureOnce,
  what: MeasuredBeforeRuns = {},
): Promise<void> {
  trace('measureBeforeRuns begin');
  const { teacher: measuresTeacher = true, students = [] } = what;
  // Measuring only: nothing to resume or report progress of, no baseline to plan for; no teacher opened unless measured.
  const measuring: DistillOptions = {
    ...options,
    ...(!measuresTeacher && { teacher: undefined }),
    baseline: false,
    checkpoint: undefined,
    onProgress: undefined,
  };
  const config = { ...resolveConfig({ ...measuring, teacher: options.teacher }), ...(!measuresTeacher && { teacherTestLogits: null }) };
  const data = shareData(measuring, config);
  const inputs = await openInputs(measuring, config, data);
  const run = await startRun(measuring, config, inputs, keeper);
  try {
    const teacherData = inputs.teacher.kind === 'layers' ? inputs.teacher.checked.data : undefined;
    const teacherRun = measuresTeacher ? await teacherInference(inputs.teacher, teacherData, inputs.teacherNormalize, config) : undefined;
    const checked = await Promise.all(students.map((student) => modelAsData(student, 'student', data.train)));
    if (!teacherRun && checked.length === 0) return;
    const { signal } = measuring;
    await run.supervisor.run('evaluate', async (pool) => {
      if (teacherRun) {
        const evaluate: Evaluate = async (model, rows = data.test) => predictTest(pool, model, rows, { onProgress: () => {}, signal });
        const teacher = { ...teacherRun, source: inputs.teacher, data: teacherData };
        await teacherOnTest(once, pool, run.threadsPerWorker, evaluate, teacher, config, data);
      }
      for (const student of checked) {
        const key = latencyMeasureKey(measuringPool(pool, run.threadsPerWorker), student.data);
        const model = layersInference(shareModel(student.data));
        await once(key, async () => {
          await trainToWarm(run, pool, data, student);
          return traced('student latency ahead', () => modelLatency(pool, model, data.test));
        });
      }
    });
  } finally {
    await run.supervisor.release();
    trace('measureBeforeRuns end');
  }
}
