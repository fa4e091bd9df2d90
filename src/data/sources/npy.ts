import { check } from '../../errors.js';
import { splitDataset } from '../dataset.js';
import { loadNpy } from '../npy.js';
import { type DataSourceEntry, withSharedClassCount } from './source-entry.js';

/** X.npy,Y.npy (after `npy:`): the two files. */
function npyPair(source: string, files: string, key: 'data' | 'testData'): [string, string] {
  const pair = files.split(',');
  check(pair.length === 2 && pair.every((f) => f.length > 0), `${key} ${source}: give npy:FEATURES.npy,LABELS.npy`, [key]);
  return pair as [string, string];
}

export const npySource: DataSourceEntry = {
  kind: 'npy',
  usage: 'npy:X.npy,Y.npy',
  description: 'NumPy arrays of features and labels; the test split is testData (npy:X,Y) or a seeded share (testFraction)',
  argument: 'paths',
  settings: ['testSource', 'testFraction', 'seed'],
  async load(files, { testSource, testFraction, seed }) {
    const train = await loadNpy(...npyPair(`npy:${files}`, files, 'data'));
    if (testSource === undefined) return splitDataset(train, testFraction, seed);
    check(testSource.startsWith('npy:'), `testData ${testSource}: give npy:FEATURES.npy,LABELS.npy`, ['testData']);
    return withSharedClassCount(train, await loadNpy(...npyPair(testSource, testSource.slice(4), 'testData')));
  },
};
