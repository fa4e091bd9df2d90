import { resolve } from 'node:path';
import { loadCsv } from './csv.js';
import { type Dataset, splitDataset, takeRows } from './dataset.js';
import { loadIdx } from './idx.js';
import { loadImageFolder } from './image-folder.js';
import { loadMnist } from './mnist.js';
import { loadNpy } from './npy.js';
import { DistillError, check } from '../errors.js';

/**
 * Data named rather than given: which source, and how many training rows to keep. The CLI loads its data
 * this way, and a labelling queue's jobs name their data with it, so a worker on another machine loads the
 * same rows.
 */
export interface DataSourceOptions {
  /** mnist, idx:DIR, csv:FILE, npy:X.npy,Y.npy or images:DIR. */
  source: string;
  /** A separate test split (npy:X.npy,Y.npy) for sources that have none of their own. */
  testSource?: string;
  limit?: number;
  /** csv only: the seeded share held out as the test split. */
  testFraction: number;
  seed: number;
  /** Image folders: the size images are resized to, the channels, and whether unreadable images are skipped. */
  imageSize?: [number, number];
  channels?: 1 | 3;
  skipBadImages?: boolean;
  /** Image folders: decoding threads, and progress (images done, total). */
  workers?: number;
  /** Called as an image folder's split is decoded: images done out of total. */
  onImageProgress?: (split: string, done: number, total: number) => void;
}

/** The data of a run, and the class names when the source has them. */
export interface DataSplits {
  train: Dataset;
  test: Dataset;
  classes?: string[];
  /** Images left out because they could not be decoded (--skip-bad-images). */
  skippedImages?: number;
}

/** npy:X.npy,Y.npy: the two files. */
function npyPair(source: string, key: 'data' | 'testData' = 'data'): [string, string] {
  const files = source.slice(4).split(',');
  check(files.length === 2 && files.every((f) => f.length > 0), `${key} ${source}: give npy:FEATURES.npy,LABELS.npy`, [key]);
  return files as [string, string];
}

async function loadSplits(options: DataSourceOptions): Promise<DataSplits> {
  const { source, testFraction, seed } = options;
  check(
    options.testSource === undefined || source.startsWith('npy:') || source.startsWith('csv:'),
    'testData applies to data npy: and csv: sources; the others come with their own test split',
    ['testData', 'data'],
  );
  if (source.startsWith('npy:')) {
    const train = await loadNpy(...npyPair(source));
    if (options.testSource === undefined) return splitDataset(train, testFraction, seed);
    check(options.testSource.startsWith('npy:'), `testData ${options.testSource}: give npy:FEATURES.npy,LABELS.npy`, ['testData']);
    const test = await loadNpy(...npyPair(options.testSource, 'testData'));
    const numClasses = Math.max(train.numClasses, test.numClasses);
    return { train: { ...train, numClasses }, test: { ...test, numClasses } };
  }
  if (source.startsWith('images:')) {
    const dir = source.slice(7);
    const load = (split: 'train' | 'test', classes?: string[], imageSize = options.imageSize, channels = options.channels) =>
      loadImageFolder(dir, {
        split,
        classes,
        imageSize,
        channels,
        workers: options.workers,
        skipBadImages: options.skipBadImages,
        onProgress: (done, total) => options.onImageProgress?.(split, done, total),
      });
    const train = await load('train');
    const [, height, width, channels] = train.dataset.shape;
    const test = await load('test', train.classes, [height, width], channels as 1 | 3);
    const numClasses = Math.max(train.classes.length, 2);
    return {
      train: { ...train.dataset, numClasses },
      test: { ...test.dataset, numClasses },
      classes: train.classes,
      skippedImages: train.skipped.length + test.skipped.length,
    };
  }
  if (source === 'mnist') return loadMnist();
  if (source.startsWith('idx:')) {
    const dir = source.slice(4);
    const [train, test] = await Promise.all([loadIdx(dir, 'train'), loadIdx(dir, 'test')]);
    // Each file only knows its own labels: the class count is the larger of the two.
    const numClasses = Math.max(train.numClasses, test.numClasses);
    return { train: { ...train, numClasses }, test: { ...test, numClasses } };
  }
  if (source.startsWith('csv:')) {
    const table = await loadCsv(source.slice(4));
    if (options.testSource === undefined) return splitDataset(table, testFraction, seed);
    check(options.testSource.startsWith('csv:'), `testData ${options.testSource}: give csv:FILE`, ['testData']);
    const test = await loadCsv(options.testSource.slice(4));
    const numClasses = Math.max(table.numClasses, test.numClasses);
    return { train: { ...table, numClasses }, test: { ...test, numClasses } };
  }
  throw new DistillError(`unknown data '${source}': use mnist, idx:DIR, csv:FILE, npy:X.npy,Y.npy or images:DIR`, ['data']);
}

/** Loads the train and test splits, then applies --limit to the training rows. */
export async function loadDataSource(options: DataSourceOptions): Promise<DataSplits> {
  const splits = await loadSplits(options);
  if (options.limit === undefined) return splits;
  check(options.limit >= 1, `limit must be >= 1, got ${options.limit}`, ['limit']);
  return { ...splits, train: takeRows(splits.train, options.limit) };
}

/**
 * A data source (idx:DIR, csv:FILE, npy:X,Y, images:DIR) with its files made absolute, relative ones
 * taken from `base`, so that it names the same files from any working directory.
 */
export function absoluteSource(source: string, base = process.cwd()): string {
  const match = /^(idx|csv|npy|images):(.*)$/.exec(source);
  if (!match) return source;
  const files = match[1] === 'npy' ? match[2].split(',') : [match[2]];
  return `${match[1]}:${files.map((file) => (file === '' ? file : resolve(base, file))).join(',')}`;
}
