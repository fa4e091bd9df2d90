import { resolve } from 'node:path';
import { takeRows } from './dataset.js';
import { dataSourceOf, testSourceMessage, unknownDataSourceMessage } from './sources/registry.js';
import type { DataSourceOptions, DataSplits, TeacherView } from './sources/source-entry.js';
import { check } from '../errors.js';

export {
  type DataSourceListing,
  dataSourceReads,
  listDataSources,
} from './sources/registry.js';
export type { DataSourceEntry, DataSourceOptions, DataSourceSetting, DataSplits, TeacherView } from './sources/source-entry.js';

/**
 * Loads the train and test splits of the source's kind (one file in sources/ each), then applies `limit`
 * to the training rows, then adds their augmented copies (text with `augment`).
 */
export async function loadDataSource(options: DataSourceOptions): Promise<DataSplits> {
  const named = dataSourceOf(options.source);
  check(named, unknownDataSourceMessage(options.source), ['data']);
  check(options.testSource === undefined || named.entry.settings.includes('testSource'), testSourceMessage(), ['testData', 'data']);
  check(options.augment === undefined || named.entry.settings.includes('augment'), augmentMessage(named.entry.kind), ['augment']);
  const { augmentTrain, ...splits } = await named.entry.load(named.argument, options);
  if (options.limit !== undefined) {
    check(options.limit >= 1, `limit must be >= 1, got ${options.limit}`, ['limit']);
    splits.train = takeRows(splits.train, options.limit);
    const { teacherView } = splits;
    if (teacherView) splits.teacherView = { ...teacherView, train: takeRows(teacherView.train, options.limit) };
  }
  if (!augmentTrain) return splits;
  const augmented = augmentTrain(splits.train);
  return { ...splits, train: augmented.train, notices: [...(splits.notices ?? []), augmented.notice] };
}

/** Augmented copies are made of token rows only. */
function augmentMessage(kind: string): string {
  return (
    `augment mask and ngram make copies of text rows (data text:FILE), not of ${kind} rows; ` +
    'for images use shift and flip, which augment the rows in training'
  );
}

/**
 * The rows a teacher given as a file labels and is tested on: the teacher view where the source has one
 * (a table's raw values), else the student's rows. A teacher trained by the run takes the student's rows.
 */
export function teacherSplits(splits: DataSplits): TeacherView {
  return splits.teacherView ?? { train: splits.train, test: splits.test };
}

/**
 * A data source (idx:DIR, csv:FILE, npy:X,Y, images:DIR) with its files made absolute, relative ones
 * taken from `base`, so that it names the same files from any working directory.
 */
export function absoluteSource(source: string, base = process.cwd()): string {
  const named = dataSourceOf(source);
  if (!named || named.entry.argument === 'none') return source;
  const files = named.entry.argument === 'paths' ? named.argument.split(',') : [named.argument];
  return `${named.entry.kind}:${files.map((file) => (file === '' ? file : resolve(base, file))).join(',')}`;
}
