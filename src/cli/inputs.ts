import type * as tf from '@tensorflow/tfjs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type DataSourceOptions, dataSourceReads, loadDataSource } from '../data/data-source.js';
import { type Dataset, featureShape } from '../data/dataset.js';
import { DEFAULTS } from '../options/options.js';
import { DistillError, check, messageOf } from '../errors.js';
import { buildModel } from '../models/architectures.js';
import { mixSeed } from '../random.js';
import { RUN_FLAGS } from './flags.js';
import { defaultTeacher } from './run-config.js';

/** The data and teacher flags that `run` and `label` share. */
export interface InputFlags {
  data?: string;
  limit?: number;
  'test-fraction'?: number;
  teacher?: string;
  'teacher-arch'?: string;
  seed?: number;
  import?: string;
}

/** The data as the flags name it (sources resolve relative paths themselves). */
export function dataSourceOf(flags: InputFlags): DataSourceOptions {
  const source = flags.data ?? RUN_FLAGS.data.default;
  check(
    flags['test-fraction'] === undefined || dataSourceReads(source, 'testFraction'),
    '--test-fraction applies to --data csv:FILE and npy:X,Y; mnist, idx and image folders come with their own test split',
  );
  return {
    source,
    limit: flags.limit,
    testFraction: flags['test-fraction'] ?? Number(RUN_FLAGS['test-fraction'].default),
    seed: flags.seed ?? DEFAULTS.seed,
  };
}

/** Imports --import here (custom layers must be known to load or build models) and returns it for the workers. */
export async function importModules(flags: InputFlags): Promise<string[]> {
  const imports = flags.import ? [resolve(flags.import)] : [];
  for (const module of imports) {
    try {
      await import(pathToFileURL(module).href);
    } catch (error) {
      throw new DistillError(`--import ${flags.import} could not be imported: ${messageOf(error)}`);
    }
  }
  return imports;
}

/** Loads the data the flags name: the train and test splits, --limit applied. */
export function loadData(flags: InputFlags): Promise<{ train: Dataset; test: Dataset }> {
  return loadDataSource(dataSourceOf(flags));
}

/** The teacher the flags name, loaded or built (seeded) for the data, and its name for the report. */
export async function loadTeacher(flags: InputFlags, train: Dataset): Promise<{ teacher: tf.LayersModel | string; teacherName: string }> {
  check(!(flags.teacher && flags['teacher-arch']), 'give --teacher PATH or --teacher-arch SPEC, not both');
  const teacherName = flags.teacher ?? flags['teacher-arch'] ?? defaultTeacher(featureShape(train));
  const shape = { inputShape: featureShape(train), numClasses: train.numClasses };
  const seed = flags.seed ?? DEFAULTS.seed;
  // A teacher file (layers or graph model.json, .onnx) is opened by the library, which knows every kind.
  const teacher = flags.teacher ? resolve(flags.teacher) : buildModel(teacherName, { ...shape, seed: mixSeed(seed, 11) });
  return { teacher, teacherName };
}
