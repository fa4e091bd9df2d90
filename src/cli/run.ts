import type * as tf from '@tensorflow/tfjs';
import { constants } from 'node:fs';
import { access, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { featureShape } from '../data/dataset.js';
import { type DistillResult, distill } from '../distill/distill.js';
import { DEFAULTS, type LossOption } from '../distill/options.js';
import { reportHtml } from '../distill/report-html.js';
import type { LrSchedule } from '../train/lr-schedule.js';
import type { SelectionMetric } from '../train/replica.js';
import { DistillCancelledError, DistillError, WorkerFailure, check, messageOf } from '../errors.js';
import { buildModel } from '../models/architectures.js';
import type { InputLayout, TeacherNormalize } from '../models/onnx-teacher.js';
import { loadModel, saveModel } from '../models/model-files.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';
import type { OptimizerSpec } from '../train/optimizers.js';
import type { NonFinitePolicy } from '../train/replica.js';
import { mixSeed } from '../random.js';
import { loadDataSource } from './data-source.js';
import { RUN_FLAGS, type RunFlags } from './flags.js';
import { ProgressView } from './progress-view.js';
import { summaryTable } from './summary-table.js';

/** Epochs of teacher training when the run builds the teacher and --teacher-epochs is not given. */
const BUILT_TEACHER_EPOCHS = 5;

/** `tfjs-distill run`: load data, build or load the models, distill, write the outputs, print the table. */
export async function runCommand(flags: RunFlags, signal: AbortSignal): Promise<void> {
  check(!(flags.teacher && flags['teacher-arch']), 'give --teacher PATH or --teacher-arch SPEC, not both');
  check(!(flags.student && flags['student-arch']), 'give --student PATH or --student-arch SPEC, not both');
  const source = flags.data ?? RUN_FLAGS.data.default;
  check(
    flags['test-fraction'] === undefined || ((source.startsWith('csv:') || source.startsWith('npy:')) && !flags['test-data']),
    '--test-fraction applies to --data csv:FILE and npy:X,Y without --test-data; ' +
      'mnist, idx and image folders come with their own test split',
  );
  const seed = flags.seed ?? DEFAULTS.seed;
  const out = resolve(flags.out ?? RUN_FLAGS.out.default);
  await checkOutputDir(out);
  const checkpointDir = join(out, CHECKPOINT_FOLDER);
  // Custom layers must be known here (to load or build the models) and in every worker.
  const imports = flags.import ? [resolve(flags.import)] : [];
  for (const module of imports) {
    try {
      await import(pathToFileURL(module).href);
    } catch (error) {
      throw new DistillError(`--import ${flags.import} could not be imported: ${messageOf(error)}`);
    }
  }

  const view = new ProgressView();
  const { train, test, classes, skippedImages } = await loadDataSource({
    source,
    testSource: flags['test-data'],
    limit: flags.limit,
    testFraction: flags['test-fraction'] ?? Number(RUN_FLAGS['test-fraction'].default),
    seed,
    imageSize: flags['image-size'] === undefined ? undefined : parseImageSize(flags['image-size']),
    channels: flags.channels === undefined ? undefined : parseChannels(flags.channels),
    skipBadImages: flags['skip-bad-images'] ?? false,
    workers: flags.workers,
    onImageProgress: (split, done, total) => {
      if (done === total) process.stderr.write(`decoded ${total} ${split} images\n`);
    },
  });
  const shape = { inputShape: featureShape(train), numClasses: train.numClasses };
  // Imported logits stand in for a teacher: none is built unless one is named.
  const imported = flags['teacher-logits'] !== undefined && !flags.teacher && !flags['teacher-arch'];
  const teacherName = imported
    ? `logits from ${flags['teacher-logits']}`
    : (flags.teacher ?? flags['teacher-arch'] ?? RUN_FLAGS['teacher-arch'].default);
  const studentName = flags.student ?? flags['student-arch'] ?? RUN_FLAGS['student-arch'].default;
  // A teacher file (model.json, graph model or .onnx) is opened by distill(), which knows every kind.
  const teacher = imported ? undefined : (flags.teacher ?? buildModel(teacherName, { ...shape, seed: mixSeed(seed, 11) }));
  const student = flags.student ? await loadModel(flags.student) : buildModel(studentName, { ...shape, seed: mixSeed(seed, 12) });

  check(
    flags['early-stopping-metric'] === undefined || flags['early-stopping'] !== undefined,
    '--early-stopping-metric applies to --early-stopping P',
  );
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
      teacherEpochs: flags['teacher-epochs'] ?? (flags.teacher || imported ? 0 : BUILT_TEACHER_EPOCHS),
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
      teacherNormalize: flags['teacher-normalize'] === undefined ? null : parseNormalize(flags['teacher-normalize']),
      teacherLayout: (flags['teacher-layout'] as InputLayout | undefined) ?? null,
      teacherOutput: flags['teacher-output'] ?? null,
      loss: parseLoss(flags.loss, flags['dkd-weights']),
      validation: flags.validation ?? null,
      earlyStopping:
        flags['early-stopping'] === undefined
          ? null
          : { patience: flags['early-stopping'], metric: flags['early-stopping-metric'] as SelectionMetric | undefined },
      keep: (flags.keep as 'best' | 'last' | undefined) ?? null,
      lrSchedule: parseSchedule(flags),
      weightDecay: flags['weight-decay'],
      clipNorm: flags['clip-norm'],
      teacherTraining: {
        optimizer: { name: flags['teacher-optimizer'] as OptimizerSpec['name'] | undefined, learningRate: flags['teacher-lr'] },
      },
      teacherLogits: flags['teacher-logits'] === undefined ? null : resolve(flags['teacher-logits']),
      teacherTestLogits: flags['teacher-test-logits'] === undefined ? null : resolve(flags['teacher-test-logits']),
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
  if (classes) result.report.data.classes = classes;
  if (skippedImages) result.report.notices.push(`${skippedImages} images could not be decoded and were left out (--skip-bad-images)`);
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
    `\nwrote ${[result.teacher && 'teacher', 'student', result.baseline && 'baseline']
      .filter(Boolean)
      .map((name) => `${join(out, name as string)}/`)
      .join(', ')}, ` + `${join(out, 'report.html')} and ${join(out, 'report.json')}\n`,
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
    await rm(join(out, 'report.html'), { force: true });
    await mkdir(staging, { recursive: true });
    for (const [name, model] of models) if (model) await saveModel(model, join(staging, name));
    await writeFile(join(staging, 'report.json'), `${JSON.stringify(result.report, null, 2)}\n`);
    // One record a line, for tools that read logs (jq, pandas.read_json(lines=True)).
    await writeFile(join(staging, 'metrics.jsonl'), result.report.history.map((record) => `${JSON.stringify(record)}\n`).join(''));
    await writeFile(join(staging, 'report.html'), reportHtml(result.report));
    // Which class each output index is, for the models' users.
    if (result.report.data.classes) await writeFile(join(out, 'classes.json'), `${JSON.stringify(result.report.data.classes)}\n`);
    for (const [name, model] of models) {
      await rm(join(out, name), { recursive: true, force: true });
      if (model) await rename(join(staging, name), join(out, name));
    }
    await rename(join(staging, 'metrics.jsonl'), join(out, 'metrics.jsonl'));
    await rename(join(staging, 'report.html'), join(out, 'report.html'));
    await rename(join(staging, 'report.json'), join(out, 'report.json'));
  } catch (error) {
    throw new DistillError(`could not write the outputs to ${out}: ${messageOf(error)}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** --lr-schedule with its parameters; undefined when none is given (the library's default). */
function parseSchedule(flags: RunFlags): LrSchedule | undefined {
  const name = flags['lr-schedule'];
  const warmupSteps = flags['warmup-steps'];
  check(flags['min-lr'] === undefined || name === 'cosine', '--min-lr applies to --lr-schedule cosine');
  check(
    (flags['lr-step-every'] === undefined && flags['lr-gamma'] === undefined) || name === 'step',
    '--lr-step-every and --lr-gamma apply to --lr-schedule step',
  );
  if (name === undefined) return warmupSteps === undefined ? undefined : { name: 'constant', warmupSteps };
  if (name === 'cosine') return { name, warmupSteps, minLearningRate: flags['min-lr'] };
  if (name === 'step') {
    check(flags['lr-step-every'] !== undefined, '--lr-schedule step needs --lr-step-every N');
    return { name, warmupSteps, everySteps: flags['lr-step-every'], gamma: flags['lr-gamma'] ?? 0.1 };
  }
  check(name === 'constant', `--lr-schedule ${name} is not one of constant, cosine, step`);
  return { name: 'constant', warmupSteps };
}

/** --loss NAME or a module's path, with --dkd-weights A,B for dkd. */
function parseLoss(name: string | undefined, dkdWeights: string | undefined): LossOption | undefined {
  check(dkdWeights === undefined || name === 'dkd', '--dkd-weights applies to --loss dkd');
  if (name === undefined) return undefined;
  if (name === 'dkd' && dkdWeights !== undefined) {
    const [targetWeight, nonTargetWeight] = dkdWeights.split(',').map(Number);
    check(
      dkdWeights.split(',').length === 2 && targetWeight >= 0 && nonTargetWeight >= 0,
      `--dkd-weights expects A,B (two numbers >= 0), got '${dkdWeights}'`,
    );
    return { name, targetWeight, nonTargetWeight };
  }
  if (name === 'kd' || name === 'dkd' || name === 'mse-logits') return name;
  check(/\.(m?js|cjs)$/.test(name), `--loss ${name} is not one of kd, dkd, mse-logits, nor a module path (.mjs or .js)`);
  return { module: resolve(name) };
}

/** --image-size H,W. */
function parseImageSize(value: string): [number, number] {
  const parts = value.split(',').map(Number);
  check(
    parts.length === 2 && parts.every((n) => Number.isInteger(n) && n > 0),
    `--image-size expects H,W (two positive integers), got '${value}'`,
  );
  return parts as [number, number];
}

/** --channels 1 or 3. */
function parseChannels(value: number): 1 | 3 {
  check(value === 1 || value === 3, `--channels expects 1 or 3, got ${value}`);
  return value;
}

/** --teacher-normalize MEANS:STDS, each a comma-separated list (one value per channel, or one for all). */
function parseNormalize(value: string): TeacherNormalize {
  const halves = value.split(':');
  const list = (text: string | undefined) => (text ?? '').split(',').map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
  const [mean, std] = [list(halves[0]), list(halves[1])];
  check(
    halves.length === 2 && mean.every(Number.isFinite) && std.every((s) => Number.isFinite(s) && s > 0),
    `--teacher-normalize expects MEANS:STDS, e.g. 0.2860:0.3530 or 0.485,0.456,0.406:0.229,0.224,0.225, got '${value}'`,
  );
  return { mean, std };
}
