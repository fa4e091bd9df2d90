import { loadCsv } from '../data/csv.js';
import { type Dataset, splitDataset, takeRows } from '../data/dataset.js';
import { loadIdx } from '../data/idx.js';
import { loadMnist } from '../data/mnist.js';
import { DistillError, check } from '../errors.js';

/** How the CLI prepares its data: which source, and how many training rows to keep. */
export interface DataSourceOptions {
  /** mnist, idx:DIR or csv:FILE. */
  source: string;
  limit?: number;
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
  throw new DistillError(`unknown --data '${source}': use mnist, idx:DIR or csv:FILE`);
}

/** Loads the train and test splits, then applies --limit to the training rows. */
export async function loadDataSource(options: DataSourceOptions): Promise<{ train: Dataset; test: Dataset }> {
  const splits = await loadSplits(options.source, options.testFraction, options.seed);
  if (options.limit === undefined) return splits;
  check(options.limit >= 1, `--limit must be >= 1, got ${options.limit}`);
  return { train: takeRows(splits.train, options.limit), test: splits.test };
}
