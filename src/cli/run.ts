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
import { DEFAULT_TEXT_FIELDS } from '../data/sources/text.js';
import { inFlagTerms } from './flags.js';
import { ProgressView } from './progress-view.js';
import { CLI_DEFAULTS, type RunSettings, defaultStudent, defaultTeacher, isArchitecture } from './run-config.js';
import { summaryTable } from './summary-table.js';
import { LEGACY_VARIANT_FOLDERS, STUDENT_FOLDER } from '../distill/student-variants.js';
import { writeStudentFolder } from '../distill/student-folder.js';
import type { ContractFile } from '../data/sources/source-entry.js';
import { dataInputContract } from '../data/source-contracts.js';
import type { InputContract } from '../data/input-contract.js';
import type { ExportFormat, QuantizeChoice } from '../options/schema.js';
import { checkStudentExports, onnxQuantizeWarnings, writeStudentOnnx } from './student-onnx.js';
import { checkEnsembleMembers, dataSourceOf, importModules, isTableSource, trainingAugment, withTeacherDataDefaults } from './inputs.js';

/**
 * A run's settings taken apart: the data source it loads, the settings it reports as given, and the
 * options for distill().
 */
export async function runSettingsParts(settings: RunSettings) {
  const { data: source, testData, limit, testFraction, imageSize, channels, skipBadImages, out, checkpoint, ...rest } = settings;
  const {
    quantize,
    maxQuantizeDrop,
    tokenizer,
    maxLength,
    textField,
    labelField,
    textPairField,
    classes: givenClasses,
    features,
    ...library
  } = rest;
  const { teacher: teacherSetting, student: studentSetting, export: exportFormats, augment, augmentCopies, ...others } = library;
  // The settings of text and table sources: which fields or columns hold what, and the class order. A
  // Hugging Face teacher's folder gives the tokenizer, the class order and the longest row; a tree
  // ensemble's graph, the class order.
  const {
    data: _data,
    classesFromTeacher,
    ...fields
  } = await withTeacherDataDefaults(
    { data: source, tokenizer, maxLength, textField, labelField, textPairField, classes: givenClasses, features },
    Array.isArray(teacherSetting) ? null : teacherSetting, // an ensemble's members give no text defaults
  );
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
    ...fields,
    classesFromTeacher,
    ...augmentation,
    seed,
  });
  return {
    quantize,
    maxQuantizeDrop,
    exportFormats,
    fields,
    teacherSetting,
    studentSetting,
    options,
    table,
    seed,
    augmentation,
    dataSource,
  };
}

/** `tfjs-distill run`: load data, build or load the models, distill, write the outputs, print the table. */
export async function runCommand(settings: RunSettings, signal: AbortSignal): Promise<void> {
  const { data: source, testData, limit, testFraction, skipBadImages, out, checkpoint, labelField } = settings;
  const {
    quantize,
    maxQuantizeDrop,
    exportFormats,
    fields,
    teacherSetting,
    studentSetting,
    options,
    table,
    seed,
    augmentation,
    dataSource,
  } = await runSettingsParts(settings);
  await checkOutputDir(out);
  const checkpointDir = join(out, CHECKPOINT_FOLDER);
  // Custom layers must be known here (to load or build the models) and in every worker.
  await importModules(options.workerImports ?? []);

  const view = new ProgressView();
  const splits = await loadDataSource({
    ...dataSource,
    workers: options.workers,
    onImageProgress: (split, done, total) => {
      if (done === total) process.stderr.write(`decoded ${total} ${split} images\n`);
    },
  });
  const { train, test, teacherView, classes, skippedImages, vocabSize, notices } = splits;
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
  await checkStudentExports(student, exportFormats);

  let result: DistillResult;
  try {
    result = await distill({
      ...options,
      teacher,
      student,
      train,
      test,
      teacherView,
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
  result.report.notices.push(...(notices ?? []).map((notice) => inFlagTerms(new DistillError(notice, ['classes', 'labelField']))));
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
    ...fields,
    // A text source's label field when none was given (a table's label column is chosen by its header: a notice says which).
    labelField: labelField ?? (dataSourceReads(source, 'textField') ? DEFAULT_TEXT_FIELDS.labelField : null),
    export: exportFormats,
    // The row width the text was cut to, so that the config reproduces it whatever the tokenizer's default.
    maxLength: vocabSize === undefined ? null : train.shape[1],
    teacher: teacherSpec,
    student: studentSpec,
    ...result.report.config,
    ...augmentation,
    checkpoint: { everySteps: checkpoint.everySteps },
  };
  await writeOutputs(out, result, {
    test,
    requested: quantize,
    maxDrop: maxQuantizeDrop,
    exportFormats,
    contract: dataInputContract(splits),
    contractFiles: splits.contractFiles,
  });
  await rm(checkpointDir, { recursive: true, force: true }); // the run is complete: nothing left to resume
  const teacherName =
    teacherSpec === null ? `logits from ${shortPath(options.teacherLogits!)}` : [teacherSpec].flat().map(shortPath).join(' + ');
  process.stdout.write(`${summaryTable(result.report, { teacher: teacherName, student: shortPath(studentSpec) })}\n`);
  const variants = (result.report.quantization?.artifacts ?? []).slice(1).map((artifact) => artifact.path);
  process.stdout.write(
    `\nwrote ${[result.teacher && 'teacher', STUDENT_FOLDER, ...variants, result.baseline && 'baseline']
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

/** What the student folder needs beyond the result: the test rows, the variants asked for, the input contract. */
interface StudentFolderRequest {
  test: Dataset;
  requested: QuantizeChoice[];
  maxDrop: number;
  contract: InputContract;
  contractFiles?: ContractFile[];
  /** Other formats the student is written in (--export), checked on the same rows. */
  exportFormats: ExportFormat[];
}

/** The command line that ran, as the model card shows it: arguments with spaces or quotes quoted. */
function commandLine(): string {
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`);
  return ['tfjs-distill', ...process.argv.slice(2)].map(quote).join(' ');
}

/**
 * Writes the models, the student folder (with its variants) and the report. Everything goes to a staging
 * folder first and is moved into place when complete, report.json last: a report.json always describes
 * models that were fully written.
 */
async function writeOutputs(out: string, result: DistillResult, request: StudentFolderRequest): Promise<void> {
  const staging = join(out, `.partial-${process.pid}`);
  const models: [string, tf.LayersModel | undefined][] = [
    ['teacher', result.teacher],
    [STUDENT_FOLDER, result.student],
    ['baseline', result.baseline],
  ];
  try {
    await rm(join(out, 'report.json'), { force: true }); // a stale report must not describe new models
    await rm(join(out, 'report.html'), { force: true });
    // Earlier runs wrote the variants and classes.json beside the student: they would describe another student.
    for (const folder of LEGACY_VARIANT_FOLDERS) await rm(join(out, folder), { recursive: true, force: true });
    await rm(join(out, 'classes.json'), { force: true });
    await mkdir(staging, { recursive: true });
    for (const [name, model] of models) if (model && name !== STUDENT_FOLDER) await saveModel(model, join(staging, name));
    const rows = rowCount(request.test).toLocaleString('en-US');
    const variants = request.requested.length > 0 ? 'its quantised variants, ' : '';
    process.stderr.write(`writing the student folder, measuring ${variants}its latency with stock tfjs on ${rows} test rows\n`);
    const folder = await writeStudentFolder(join(staging, STUDENT_FOLDER), {
      student: result.student,
      report: result.report,
      test: request.test,
      contract: request.contract,
      contractFiles: request.contractFiles,
      quantize: request.requested,
      maxQuantizeDrop: request.maxDrop,
      command: commandLine(),
      artifacts: [
        async (folder) => {
          if (request.exportFormats.length === 0) return;
          process.stderr.write('exporting the student to ONNX and checking it with onnxruntime-node on the test rows\n');
          result.report.onnx = await writeStudentOnnx(folder, STUDENT_FOLDER, result.student, request.test, request.exportFormats);
          result.report.warnings.push(...onnxQuantizeWarnings(result.report.onnx, request.maxDrop));
        },
      ],
    });
    if (folder.quantization) result.report.quantization = folder.quantization;
    result.report.studentFolder = folder.folder;
    await writeFile(join(staging, 'report.json'), `${JSON.stringify(result.report, null, 2)}\n`);
    // One record a line, for tools that read logs (jq, pandas.read_json(lines=True)).
    await writeFile(join(staging, 'metrics.jsonl'), result.report.history.map((record) => `${JSON.stringify(record)}\n`).join(''));
    await writeFile(join(staging, 'report.html'), reportHtml(result.report));
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
