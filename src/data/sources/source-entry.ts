import type { Dataset } from '../dataset.js';

/**
 * Data named rather than given: which source, and how many training rows to keep. The CLI loads its data
 * this way, and a labelling queue's jobs name their data with it, so a worker on another machine loads the
 * same rows. Each source kind reads only the settings it declares (see listDataSources()).
 */
export interface DataSourceOptions {
  /** mnist, idx:DIR, csv:FILE, npy:X.npy,Y.npy or images:DIR (listDataSources() has every kind). */
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
  /** Image folders: decoding threads. */
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

/** A setting of DataSourceOptions that only some kinds read (source and limit apply to all). */
export type DataSourceSetting = Exclude<keyof DataSourceOptions, 'source' | 'limit'>;

/** One kind of data source: `csv:FILE` is the kind `csv` with the argument `FILE`. */
export interface DataSourceEntry {
  kind: string;
  /** The source's form, e.g. `npy:X.npy,Y.npy`. */
  usage: string;
  /** One line, for --help and the docs. */
  description: string;
  /**
   * What follows `kind:`: nothing (the source is the bare kind, like `mnist`), one file or folder, or a
   * comma-separated list of files; absoluteSource makes these absolute.
   */
  argument: 'none' | 'path' | 'paths';
  /** The settings it reads; testSource here means it takes a separate test split (testData). */
  settings: readonly DataSourceSetting[];
  /** Loads the train and test splits; `argument` is what follows `kind:` ('' for `none`). */
  load(argument: string, options: DataSourceOptions): Promise<DataSplits>;
}

/** Train and test splits loaded apart, each with the larger class count: each only knows its own labels. */
export function withSharedClassCount(train: Dataset, test: Dataset): DataSplits {
  const numClasses = Math.max(train.numClasses, test.numClasses);
  return { train: { ...train, numClasses }, test: { ...test, numClasses } };
}
