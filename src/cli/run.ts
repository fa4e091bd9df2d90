import type * as tf from '@tensorflow/tfjs';
import { constants } from 'node:fs';
import { access, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { featureShape } from '../data/dataset.js';
import { type DistillResult, distill } from '../distill/distill.js';
import { DEFAULTS } from '../distill/options.js';
import { DistillCancelledError, DistillError, WorkerFailure, check, messageOf } from '../errors.js';
import { buildModel } from '../models/architectures.js';
import { loadModel, saveModel } from '../models/model-files.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';
import type { OptimizerSpec } from '../train/optimizers.js';
import type { NonFinitePolicy } from '../train/replica.js';
import { mixSeed } from '../random.js';
import { RUN_FLAGS, type RunFlags } from './flags.js';
import { dataSourceOf, importModules, loadData, loadTeacher } from './inputs.js';
import { ProgressView } from './progress-view.js';
import { summaryTable } from './summary-table.js';

/** Epochs of teacher training when the run builds the teacher and --teacher-epochs is not given. */
const BUILT_TEACHER_EPOCHS = 5;

/** `tfjs-distill run`: load data, build or load the models, distill, write the outputs, print the table. */
export async function runCommand(flags: RunFlags, signal: AbortSignal): Promise<void> {
  check(!(flags.student && flags['student-arch']), 'give --student PATH or --student-arch SPEC, not both');
  const { source } = dataSourceOf(flags);
  const seed = flags.seed ?? DEFAULTS.seed;
  const out = resolve(flags.out ?? RUN_FLAGS.out.default);
  await checkOutputDir(out);
  const checkpointDir = join(out, CHECKPOINT_FOLDER);
  // Custom layers must be known here (to load or build the models) and in every worker.
  const imports = await importModules(flags);

  const { train, test } = await loadData(flags);
  const shape = { inputShape: featureShape(train), numClasses: train.numClasses };
  const { teacher, teacherName } = await loadTeacher(flags, train);
  const studentName = flags.student ?? flags['student-arch'] ?? RUN_FLAGS['student-arch'].default;
  const student = flags.student ? await loadModel(flags.student) : buildModel(studentName, { ...shape, seed: mixSeed(seed, 12) });

  const view = new ProgressView();
  let result: DistillResult;
  try {
    result = await distill({
      teacher,
      student,
      train,
      test,
      workers: flags.workers,
      labeled: flags.labeled,
      epochs: flags.epochs,
      teacherEpochs: flags['teacher-epochs'] ?? (flags.teacher ? 0 : BUILT_TEACHER_EPOCHS),
      batchSize: flags['batch-size'],
      temperature: flags.temperature,
      alpha: flags.alpha,
      seed,
      optimizer: { name: flags.optimizer as OptimizerSpec['name'] | undefined, learningRate: flags.lr },
      baseline: flags.baseline ?? false,
      backend: flags.backend as BackendChoice | undefined,
      checkpoint: { dir: checkpointDir, everySteps: flags['checkpoint-every'], resume: flags.resume ?? false },
      maxRestarts: flags['max-restarts'],
      onNonFinite: flags['on-nonfinite'] as NonFinitePolicy | undefined,
      workerMemoryMb: flags['worker-memory-mb'],
      workerImports: imports,
      softLabels: flags['soft-labels'] === undefined ? null : resolve(flags['soft-labels']),
      softLabelTopK: flags['soft-label-top-k'] ?? null,
      kernels: flags.kernels as KernelChoice | undefined,
      onProgress: view.update,
      signal,
    });
  } catch (error) {
    // The checkpoint survives a stop or a failed worker: say how to continue.
    const resume = `rerun the same command with --resume to continue from the checkpoint in ${checkpointDir}`;
    if (error instanceof DistillCancelledError) throw new DistillCancelledError(`${error.message}; no outputs were written; ${resume}`);
    if (error instanceof WorkerFailure && error.retryable)
      throw new WorkerFailure(`${error.message}; ${resume}`, error.rank, error.retryable);
    throw error;
  } finally {
    view.finishLine();
  }
  // The checkpoint's copy of the soft labels goes with the checkpoint: no file outlives the run.
  if (result.report.softLabels.file?.startsWith(checkpointDir)) result.report.softLabels.file = null;
  result.report.config = {
    ...result.report.config,
    data: source,
    limit: flags.limit,
    teacher: teacherName,
    student: studentName,
  };
  await writeOutputs(out, result);
  await rm(checkpointDir, { recursive: true, force: true }); // the run is complete: nothing left to resume
  process.stdout.write(`${summaryTable(result.report, { teacher: teacherName, student: studentName })}\n`);
  process.stdout.write(
    `\nwrote ${join(out, 'teacher')}/, ${join(out, 'student')}/${result.baseline ? `, ${join(out, 'baseline')}/` : ''} ` +
      `and ${join(out, 'report.json')}\n`,
  );
}

/** Where the run's state lives under --out until the outputs are written. */
const CHECKPOINT_FOLDER = '.checkpoint';

/** Fails early, before any training, when the outputs could not be written. */
async function checkOutputDir(out: string): Promise<void> {
  const info = await stat(out).catch(() => undefined);
  check(!info || info.isDirectory(), `--out ${out} is a file; give a directory`);
  try {
    await mkdir(out, { recursive: true });
    await access(out, constants.W_OK);
  } catch (error) {
    throw new DistillError(`cannot write to --out ${out} (${messageOf(error)}); give a writable directory`);
  }
}

/**
 * Writes the models and the report. Everything goes to a staging folder first and is moved into place
 * when complete, report.json last: a report.json always describes models that were fully written.
 */
async function writeOutputs(out: string, result: DistillResult): Promise<void> {
  const staging = join(out, `.partial-${process.pid}`);
  const models: [string, tf.LayersModel | undefined][] = [
    ['teacher', result.teacher],
    ['student', result.student],
    ['baseline', result.baseline],
  ];
  try {
    await rm(join(out, 'report.json'), { force: true }); // a stale report must not describe new models
    await mkdir(staging, { recursive: true });
    for (const [name, model] of models) if (model) await saveModel(model, join(staging, name));
    await writeFile(join(staging, 'report.json'), `${JSON.stringify(result.report, null, 2)}\n`);
    for (const [name, model] of models) {
      await rm(join(out, name), { recursive: true, force: true });
      if (model) await rename(join(staging, name), join(out, name));
    }
    await rename(join(staging, 'report.json'), join(out, 'report.json'));
  } catch (error) {
    throw new DistillError(`could not write the outputs to ${out}: ${messageOf(error)}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
