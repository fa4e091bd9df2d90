import type * as tf from '@tensorflow/tfjs';
import { constants } from 'node:fs';
import { access, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { type Dataset, featureShape, rowCount } from '../data/dataset.js';
import { type DistillResult, distill } from '../distill/distill.js';
import { DEFAULTS } from '../options/options.js';
import { reportHtml } from '../reports/report-html.js';
import { DistillCancelledError, DistillError, WorkerFailure, check, messageOf } from '../errors.js';
import { buildModel } from '../models/architectures.js';
import { loadModel, saveModel } from '../models/model-files.js';
import { mixSeed } from '../random.js';
import { dataSourceReads, loadDataSource } from '../data/data-source.js';
import { inFlagTerms } from './flags.js';
import { ProgressView } from './progress-view.js';
import { CLI_DEFAULTS, type RunSettings, defaultStudent, defaultTeacher, isArchitecture } from './run-config.js';
import { summaryTable } from './summary-table.js';
import { VARIANT_FOLDERS, writeStudentVariants } from './student-variants.js';
import type { QuantizeChoice } from '../options/schema.js';
import { checkEnsembleMembers, dataSourceOf, importModules, isTableSource, trainingAugment } from './inputs.js';

/** `tfjs-distill run`: load data, build or load the models, distill, write the outputs, print the table. */
export async function runCommand(settings: RunSettings, signal: AbortSignal): Promise<void> {
  const { data: source, testData, limit, testFraction, imageSize, channels, skipBadImages, out, checkpoint, ...rest } = settings;
  const { quantize, maxQuantizeDrop, tokenizer, maxLength, textField, labelField, textPairField, classes: givenClasses, ...library } = rest;
  const text = { tokenizer, maxLength, textField, labelField, textPairField, classes: givenClasses };
  const { teacher: teacherSetting, student: studentSetting, augment, augmentCopies, ...others } = library;
  // Text's augmentation happens as the data is loaded; distill() applies only the images' shifts and flips.
  const options = { ...others, augment: trainingAugment(augment) };
  const table = isTableSource(source);
  const seed = options.seed ?? DEFAULTS.seed;
  const augmentation = { augment: augment ?? null, augmentCopies };
  const dataSource = dataSourceOf({
    data: source,
    testData,
    limit,
    testFraction,
    imageSize,
    channels,
    skipBadImages,
    ...text,
    ...augmentation,
    seed,
  });
  await checkOutputDir(out);
  const checkpointDir = join(out, CHECKPOINT_FOLDER);
  // Custom layers must be known here (to load or build the models) and in every worker.
  await importModules(options.workerImports ?? []);

  const view = new ProgressView();
  const { train, test, classes, skippedImages, vocabSize, notices } = await loadDataSource({
    ...dataSource,
    workers: options.workers,
    onImageProgress: (split, done, total) => {
      if (done === total) process.stderr.write(`decoded ${total} ${split} images\n`);
    },
  });
  // Token-id rows (text) carry vocabSize, which the text families are built for.
  const shape = { inputShape: featureShape(train), numClasses: train.numClasses, vocabSize };
  // Imported logits stand in for a teacher: none is built unless one is named.
  const imported = options.teacherLogits != null && teacherSetting === null;
  const teacherSpec = imported ? null : (teacherSetting ?? defaultTeacher(shape.inputShape, vocabSize));
  const studentSpec = studentSetting ?? defaultStudent(vocabSize);
  const built = typeof teacherSpec === 'string' && isArchitecture(teacherSpec);
  if (Array.isArray(teacherSpec)) checkEnsembleMembers(teacherSpec);
  // A teacher file (model.json, graph model or .onnx) is opened by distill(), which knows every kind.
  const teacher =
    teacherSpec === null ? undefined : built ? buildModel(teacherSpec as string, { ...shape, seed: mixSeed(seed, 11) }) : teacherSpec;
  const student = isArchitecture(studentSpec)
    ? buildModel(studentSpec, { ...shape, seed: mixSeed(seed, 12) })
    : await loadModel(studentSpec);

  let result: DistillResult;
  try {
    result = await distill({
      ...options,
      teacher,
      student,
      train,
      test,
      teacherEpochs: options.teacherEpochs ?? (built ? CLI_DEFAULTS.builtTeacherEpochs : 0),
      checkpoint: { dir: checkpointDir, everySteps: checkpoint.everySteps ?? undefined, resume: checkpoint.resume },
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
  // The source's notices name library options (classes): the CLI says its flags.
  result.report.notices.push(...(notices ?? []).map((notice) => inFlagTerms(new DistillError(notice, ['classes']))));
  if (skippedImages) result.report.notices.push(`${skippedImages} images could not be decoded and were left out (--skip-bad-images)`);
  // The checkpoint's copy of the soft labels goes with the checkpoint: no file outlives the run.
  if (result.report.softLabels.file?.startsWith(checkpointDir)) result.report.softLabels.file = null;
  // Every setting, resolved, as a config file takes them: --config report.json runs this run again. The
  // output folder and resuming are where and how it ran, not what it computed.
  const [, imageHeight, imageWidth, imageChannels] = dataSourceReads(source, 'imageSize') ? train.shape : [];
  result.report.config = {
    data: source,
    testData,
    limit,
    testFraction: table && testData === null ? (testFraction ?? CLI_DEFAULTS.testFraction) : null,
    imageSize: imageHeight === undefined ? null : [imageHeight, imageWidth],
    channels: imageChannels ?? null,
    skipBadImages,
    quantize,
    maxQuantizeDrop,
    ...text,
    // The row width the text was cut to, so that the config reproduces it whatever the tokenizer's default.
    maxLength: vocabSize === undefined ? null : train.shape[1],
    teacher: teacherSpec,
    student: studentSpec,
    ...result.report.config,
    ...augmentation,
    checkpoint: { everySteps: checkpoint.everySteps },
  };
  await writeOutputs(out, result, { test, requested: quantize, maxDrop: maxQuantizeDrop });
  await rm(checkpointDir, { recursive: true, force: true }); // the run is complete: nothing left to resume
  const teacherName =
    teacherSpec === null ? `logits from ${shortPath(options.teacherLogits!)}` : [teacherSpec].flat().map(shortPath).join(' + ');
  process.stdout.write(`${summaryTable(result.report, { teacher: teacherName, student: shortPath(studentSpec) })}\n`);
  const variants = (result.report.quantization?.artifacts ?? []).slice(1).map((artifact) => artifact.path);
  process.stdout.write(
    `\nwrote ${[result.teacher && 'teacher', 'student', ...variants, result.baseline && 'baseline']
      .filter(Boolean)
      .map((name) => `${join(out, name as string)}/`)
      .join(', ')}, ` + `${join(out, 'report.html')} and ${join(out, 'report.json')}\n`,
  );
}

/** A model or file as the table shows it: relative to the working directory when it lies below it. */
function shortPath(spec: string): string {
  if (isArchitecture(spec) || !isAbsolute(spec)) return spec;
  const below = relative(process.cwd(), spec);
  return below !== '' && !below.startsWith('..') && !isAbsolute(below) ? below : spec;
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

/** The quantised variants a run writes, and the rows they are measured on. */
interface VariantRequest {
  test: Dataset;
  requested: QuantizeChoice[];
  maxDrop: number;
}

/**
 * Writes the models, the student's quantised variants and the report. Everything goes to a staging folder
 * first and is moved into place when complete, report.json last: a report.json always describes models
 * that were fully written.
 */
async function writeOutputs(out: string, result: DistillResult, variants: VariantRequest): Promise<void> {
  const staging = join(out, `.partial-${process.pid}`);
  const models: [string, tf.LayersModel | undefined][] = [
    ['teacher', result.teacher],
    ['student', result.student],
    ['baseline', result.baseline],
  ];
  try {
    await rm(join(out, 'report.json'), { force: true }); // a stale report must not describe new models
    await rm(join(out, 'report.html'), { force: true });
    // A variant left by an earlier run would sit beside a new student it was not made from.
    for (const folder of VARIANT_FOLDERS) await rm(join(out, folder), { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    for (const [name, model] of models) if (model) await saveModel(model, join(staging, name));
    if (variants.requested.length > 0) {
      process.stderr.write(
        `writing the quantised students and measuring them with stock tfjs on ${rowCount(variants.test).toLocaleString('en-US')} test rows\n`,
      );
      result.report.quantization = await writeStudentVariants(staging, variants.test, variants.requested, variants.maxDrop);
    }
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
    for (const artifact of result.report.quantization?.artifacts.slice(1) ?? []) {
      await rename(join(staging, artifact.path), join(out, artifact.path));
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
