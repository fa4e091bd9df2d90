import { check } from '../../errors.js';
import { loadCsv } from '../csv.js';
import { splitDataset } from '../dataset.js';
import { type DataSourceEntry, withSharedClassCount } from './source-entry.js';

export const csvSource: DataSourceEntry = {
  kind: 'csv',
  usage: 'csv:FILE',
  description:
    'a CSV table, the class index in the first column and numeric features after it; the test split is testData (csv:FILE) or a seeded share (testFraction)',
  argument: 'path',
  settings: ['testSource', 'testFraction', 'seed'],
  async load(file, { testSource, testFraction, seed }) {
    const table = await loadCsv(file);
    if (testSource === undefined) return splitDataset(table, testFraction, seed);
    check(testSource.startsWith('csv:'), `testData ${testSource}: give csv:FILE`, ['testData']);
    return withSharedClassCount(table, await loadCsv(testSource.slice(4)));
  },
};
