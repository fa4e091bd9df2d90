import type * as tf from '@tensorflow/tfjs';
import { type DataSourceOptions, type DataSplits, dataSourceReads, listDataSources, loadDataSource } from '../data/data-source.js';
import { type Dataset, featureShape } from '../data/dataset.js';
import type { TextAugment } from '../data/text/augment-tokens.js';
import { loadTokenizer } from '../data/text/tokenizer-files.js';
import { readHuggingFaceExport } from '../teachers/hugging-face-export.js';
import { teacherClassOrder } from '../teachers/teacher-classes.js';
import { check } from '../errors.js';
import { buildModel } from '../models/architectures.js';
import { DEFAULTS } from '../options/options.js';
import type { AugmentSetting } from '../options/groups/data.js';
import type { CliSettings } from '../options/schema.js';
import { mixSeed } from '../random.js';
import { importModules as importModulesHere } from '../url-or-path.js';
import { CLI_DEFAULTS, defaultTeacher, isArchitecture } from './run-config.js';

/** The data settings that `run` and `label` share (the data group), checked and with the CLI's defaults. */
export type DataSettings = Pick<
  CliSettings,
  | 'data'
  | 'testData'
  | 'limit'
  | 'testFraction'
  | 'imageSize'
  | 'channels'
  | 'skipBadImages'
  | 'tokenizer'
  | 'maxLength'
  | 'textField'
  | 'labelField'
  | 'textPairField'
  | 'classes'
  | 'augmentCopies'
  | 'features'
> & {
  seed?: number;
  augment?: AugmentSetting | null;
  /** The teacher file whose graph gave classes (withTeacherDataDefaults), for the errors about labels. */
  classesFromTeacher?: string;
};

/** The data settings without a default, which only some sources read (an error elsewhere), and what each is called there. */
const SOURCE_ONLY = ['tokenizer', 'maxLength', 'textPairField', 'classes', 'labelField', 'features'] as const;

/** Whether the data is a table (CSV, NPY, text), which is split into train and test rows by testFraction. */
export const isTableSource = (source: string) => dataSourceReads(source, 'testFraction');

/** The data as the settings name it (sources resolve relative paths themselves). */
export function dataSourceOf(settings: DataSettings): DataSourceOptions {
  const { data: source, testData, testFraction } = settings;
  check(
    testFraction === null || (isTableSource(source) && testData === null),
    'testFraction applies to data csv:FILE, npy:X,Y and text:FILE without testData; mnist, idx and image folders come with their own test split',
    ['testFraction', 'data', 'testData'],
  );
  for (const key of SOURCE_ONLY) {
    const kinds = listDataSources().filter((entry) => entry.settings.includes(key));
    check(
      (settings[key] ?? null) === null || dataSourceReads(source, key),
      () => `${key} applies to data ${kinds.map((entry) => entry.usage).join(' and ')} only`,
      [key, 'data'],
    );
  }
  return {
    source,
    testSource: testData ?? undefined,
    limit: settings.limit ?? undefined,
    testFraction: testFraction ?? CLI_DEFAULTS.testFraction,
    seed: settings.seed ?? DEFAULTS.seed,
    imageSize: settings.imageSize ?? undefined,
    channels: settings.channels ?? undefined,
    skipBadImages: settings.skipBadImages,
    // A source carries only the settings it reads, so that the other sources' options stay as they were.
    ...(dataSourceReads(source, 'tokenizer') && {
      tokenizer: settings.tokenizer ?? undefined,
      maxLength: settings.maxLength ?? undefined,
      textField: settings.textField,
      textPairField: settings.textPairField ?? undefined,
    }),
    ...(dataSourceReads(source, 'labelField') && { labelField: settings.labelField ?? undefined }),
    ...(dataSourceReads(source, 'features') && { features: settings.features ?? undefined }),
    ...(dataSourceReads(source, 'classes') && { classes: settings.classes ?? undefined }),
    ...(settings.classesFromTeacher !== undefined && { classesFromTeacher: settings.classesFromTeacher }),
    ...textAugmentOf(settings),
  };
}

/**
 * The text augmentation the settings ask for (augment's mask and ngram, and augmentCopies), as the data
 * source takes it; shift and flip are image augmentation in training, which distill() applies.
 */
function textAugmentOf(settings: DataSettings): { augment?: TextAugment } {
  const { augment, augmentCopies } = settings;
  const text = augment != null && (augment.mask !== undefined || augment.ngram !== undefined);
  check(augmentCopies == null || text, 'augmentCopies applies to augment mask:P or ngram:P (text)', ['augmentCopies', 'augment']);
  if (!text) return {};
  check(
    dataSourceReads(settings.data, 'augment'),
    'augment mask and ngram make copies of text rows (data text:FILE); images take shift and flip',
    ['augment', 'data'],
  );
  return {
    augment: {
      ...(augment.mask !== undefined && { mask: augment.mask }),
      ...(augment.ngram !== undefined && { ngram: augment.ngram }),
      copies: augmentCopies ?? 1,
    },
  };
}

/** The augmentation distill() applies itself: image shifts and flips, without text's mask and ngram (already in the rows). */
export function trainingAugment(augment: AugmentSetting | null | undefined): AugmentSetting | null {
  if (augment == null) return null;
  if (augment.mask === undefined && augment.ngram === undefined) return augment;
  const { mask, ngram, ...images } = augment;
  return Object.keys(images).length > 0 ? images : null;
}

/**
 * An ensemble takes saved teachers: a member named by an architecture would be built untrained (the run
 * trains only a teacher it builds alone, --teacher-arch).
 */
export function checkEnsembleMembers(teachers: readonly string[]): void {
  const built = teachers.find(isArchitecture);
  check(
    built === undefined,
    `--teacher ${built} names an architecture, but an ensemble's teachers are saved models; train it first ` +
      `(run --teacher-arch ${built} writes OUT/teacher/) and give that folder`,
  );
}

/**
 * What a teacher file says of the data it labels, as defaults, for every teacher kind that says something:
 * text data with a Hugging Face ONNX teacher gets its tokenizer, class order and longest row (see
 * withTeacherTextDefaults); a table with an ONNX-ML classifier (a tree ensemble) gets the class order its
 * graph declares, onto which the table's labels map (withTeacherClasses: classes, when given, must be the
 * same; a label the teacher does not know is an error naming it).
 */
export async function withTeacherDataDefaults<T extends Pick<DataSettings, 'data' | 'tokenizer' | 'maxLength' | 'classes'>>(
  settings: T,
  teacher: string | null | undefined,
): Promise<T & Pick<DataSettings, 'classesFromTeacher'>> {
  const text = withTeacherTextDefaults(settings, teacher);
  if (!dataSourceReads(settings.data, 'classesFromTeacher') || !teacher || isArchitecture(teacher)) return text;
  const classes = await teacherClassOrder(teacher, settings.classes);
  return classes ? { ...text, classes, classesFromTeacher: teacher } : text;
}

/**
 * Text data with a Hugging Face ONNX teacher (an export folder or its .onnx file): what the teacher says of
 * its input, as defaults. The tokenizer beside it unless tokenizer is given; the class order of its
 * config.json id2label (classes, when given, must be the same); the maximum length capped by its positions
 * (beyond them, an error).
 */
function withTeacherTextDefaults<T extends Pick<DataSettings, 'data' | 'tokenizer' | 'maxLength' | 'classes'>>(
  settings: T,
  teacher: string | null | undefined,
): T {
  if (!dataSourceReads(settings.data, 'tokenizer') || !teacher || isArchitecture(teacher)) return settings;
  const exported = readHuggingFaceExport(teacher);
  if (!exported) return settings;
  const tokenizer = settings.tokenizer ?? exported.tokenizer ?? null;
  const { classes, positions } = exported;
  check(
    !classes || !settings.classes || settings.classes.join() === classes.join(),
    () => `classes ${settings.classes!.join(',')} differ from the teacher's id2label ${classes!.join(',')} (config.json); drop classes`,
    ['classes'],
  );
  let maxLength = settings.maxLength;
  if (positions) {
    check(
      maxLength === null || maxLength <= positions.count,
      `maxLength ${maxLength} is beyond the teacher's ${positions.count} positions (${positions.where}); give maxLength ${positions.count} or less`,
      ['maxLength'],
    );
    const own = tokenizer === null ? undefined : loadTokenizer(tokenizer).maxLength;
    if (maxLength === null && (own === undefined || own > positions.count)) maxLength = positions.count;
  }
  return { ...settings, tokenizer, classes: classes ?? settings.classes, maxLength };
}

/** Imports the worker imports here too: custom layers must be known here (to load or build models) and in every worker. */
export function importModules(modules: readonly string[]): Promise<void> {
  return importModulesHere(modules, (module) => `workerImports ${module} could not be imported`, ['workerImports']);
}

/** Loads the data the settings name: the train and test splits, limit applied (and vocabSize for text). */
export function loadData(settings: DataSettings): Promise<DataSplits> {
  return loadDataSource(dataSourceOf(settings));
}

/**
 * The teacher the settings name (a path, or an architecture built seeded for the data: for token-id rows,
 * `vocabSize` token ids), and its name.
 */
export function loadTeacher(
  spec: string | null,
  train: Dataset,
  seed: number,
  vocabSize?: number,
): { teacher: tf.LayersModel | string; teacherName: string } {
  const teacherName = spec ?? defaultTeacher(featureShape(train), vocabSize);
  const shape = { inputShape: featureShape(train), numClasses: train.numClasses, vocabSize };
  // A teacher file (layers or graph model.json, .onnx) is opened by the library, which knows every kind.
  const teacher = isArchitecture(teacherName) ? buildModel(teacherName, { ...shape, seed: mixSeed(seed, 11) }) : teacherName;
  return { teacher, teacherName };
}
