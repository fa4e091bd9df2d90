import { resolve } from 'node:path';
import { loadCsv } from './csv.js';
import { type Dataset, splitDataset, takeRows } from './dataset.js';
import { loadIdx } from './idx.js';
import { loadMnist } from './mnist.js';
import { DistillError, check } from '../errors.js';

/**
 * Data named rather than given: which source, and how many training rows to keep. The CLI loads its data
 * this way, and a labelling queue's jobs name their data with it, so a worker on another machine loads the
 * same rows.
 */
export interface DataSourceOptions {
  /** mnist, idx:DIR or csv:FILE. */
  source: string;
  limit?: number;
  /** csv only: the seeded share held out as the test split. */
  testFraction: number;
  seed: number;
}

async function loadSplits(source: string, testFraction: number, seed: number): Promise<{ train: Dataset; test: Dataset }> {
  if (source === 'mnist') return loadMnist();
  if (source.startsWith('idx:')) {
    const dir = source.slice(4);
    const [train, test] = await Promise.all([loadIdx(dir, 'train'), loadIdx(dir, 'test')]);
    // Each file only knows its own labels: the class count is the larger of the two.
    const numClasses = Math.max(train.numClasses, test.numClasses);
    return { train: { ...train, numClasses }, test: { ...test, numClasses } };
  }
  if (source.startsWith('csv:')) return splitDataset(await loadCsv(source.slice(4)), testFraction, seed);
  throw new DistillError(`data '${source}' is not mnist, idx:DIR or csv:FILE`, ['data']);
}

/** Loads the train and test splits, then applies the limit to the training rows. */
export async function loadDataSource(options: DataSourceOptions): Promise<{ train: Dataset; test: Dataset }> {
  const splits = await loadSplits(options.source, options.testFraction, options.seed);
  if (options.limit === undefined) return splits;
  check(options.limit >= 1, `limit must be >= 1, got ${options.limit}`, ['limit']);
  return { train: takeRows(splits.train, options.limit), test: splits.test };
}

/** The source with its path made absolute, so that it names the same files from any working directory. */
export function absoluteSource(source: string): string {
  const match = /^(idx|csv):(.*)$/.exec(source);
  return match ? `${match[1]}:${resolve(match[2])}` : source;
}
