import type * as tf from '@tensorflow/tfjs';
import { type DataSourceOptions, dataSourceReads, loadDataSource } from '../data/data-source.js';
import { type Dataset, featureShape } from '../data/dataset.js';
import { DistillError, check, messageOf } from '../errors.js';
import { buildModel } from '../models/architectures.js';
import { DEFAULTS } from '../options/options.js';
import type { CliSettings } from '../options/schema.js';
import { mixSeed } from '../random.js';
import { importSpecifier } from '../url-or-path.js';
import { CLI_DEFAULTS, defaultTeacher, isArchitecture } from './run-config.js';

/** The data settings that `run` and `label` share (the data group), checked and with the CLI's defaults. */
export type DataSettings = Pick<
  CliSettings,
  'data' | 'testData' | 'limit' | 'testFraction' | 'imageSize' | 'channels' | 'skipBadImages'
> & {
  seed?: number;
};

/** Whether the data is a table (CSV, NPY), which is split into train and test rows by testFraction. */
export const isTableSource = (source: string) => dataSourceReads(source, 'testFraction');

/** The data as the settings name it (sources resolve relative paths themselves). */
export function dataSourceOf(settings: DataSettings): DataSourceOptions {
  const { data: source, testData, testFraction } = settings;
  check(
    testFraction === null || (isTableSource(source) && testData === null),
    'testFraction applies to data csv:FILE and npy:X,Y without testData; mnist, idx and image folders come with their own test split',
    ['testFraction', 'data', 'testData'],
  );
  return {
    source,
    testSource: testData ?? undefined,
    limit: settings.limit ?? undefined,
    testFraction: testFraction ?? CLI_DEFAULTS.testFraction,
    seed: settings.seed ?? DEFAULTS.seed,
    imageSize: settings.imageSize ?? undefined,
    channels: settings.channels ?? undefined,
    skipBadImages: settings.skipBadImages,
  };
}

/** Imports the worker imports here too: custom layers must be known here (to load or build models) and in every worker. */
export async function importModules(modules: readonly string[]): Promise<void> {
  for (const module of modules) {
    try {
      await import(importSpecifier(module));
    } catch (error) {
      throw new DistillError(`workerImports ${module} could not be imported: ${messageOf(error)}`, ['workerImports']);
    }
  }
}

/** Loads the data the settings name: the train and test splits, limit applied. */
export function loadData(settings: DataSettings): Promise<{ train: Dataset; test: Dataset }> {
  return loadDataSource(dataSourceOf(settings));
}

/** The teacher the settings name (a path, or an architecture built seeded for the data), and its name. */
export function loadTeacher(spec: string | null, train: Dataset, seed: number): { teacher: tf.LayersModel | string; teacherName: string } {
  const teacherName = spec ?? defaultTeacher(featureShape(train));
  const shape = { inputShape: featureShape(train), numClasses: train.numClasses };
  // A teacher file (layers or graph model.json, .onnx) is opened by the library, which knows every kind.
  const teacher = isArchitecture(teacherName) ? buildModel(teacherName, { ...shape, seed: mixSeed(seed, 11) }) : teacherName;
  return { teacher, teacherName };
}
