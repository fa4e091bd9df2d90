import type { Dataset } from '../dataset.js';
import type { TextAugment } from '../text/augment-tokens.js';
import type { InputContract } from '../input-contract.js';

/**
 * Data named rather than given: which source, and how many training rows to keep. The CLI loads its data
 * this way, and a labelling queue's jobs name their data with it, so a worker on another machine loads the
 * same rows. Each source kind reads only the settings it declares (see listDataSources()).
 */
export interface DataSourceOptions {
  /** mnist, idx:DIR, csv:FILE, npy:X.npy,Y.npy, images:DIR or text:FILE (listDataSources() has every kind). */
  source: string;
  /** A separate test split (csv:FILE, npy:X.npy,Y.npy, text:FILE) for sources that have none of their own. */
  testSource?: string;
  limit?: number;
  /** csv, npy and text without testSource: the seeded share held out as the test split. */
  testFraction: number;
  seed: number;
  /** Image folders: the size images are resized to, the channels, and whether unreadable images are skipped. */
  imageSize?: [number, number];
  channels?: 1 | 3;
  skipBadImages?: boolean;
  /** Text files: the tokenizer, a `tokenizer.json` or the folder that holds it. */
  tokenizer?: string;
  /** Text files: the tokens a row keeps (special tokens included); default: the tokenizer's. */
  maxLength?: number;
  /** Text files: the field (JSONL) or column (CSV, TSV) of the text; default `text`. */
  textField?: string;
  /**
   * Text files: the field or column of the label; default `label`. Tables (csv:FILE with a header row): the
   * label column; default: one named label, target or class, else the first.
   */
  labelField?: string;
  /** Tables: the feature columns, in the order the models take them; default: every named column but the label. */
  features?: string[];
  /** Text files: the field or column of a sentence pair's second text. */
  textPairField?: string;
  /**
   * Text files and tables: the class names in output order (a teacher whose graph names its classes can set
   * them); default: the sorted class names of the labels.
   */
  classes?: string[];
  /**
   * The teacher file whose graph gave `classes` (see withTeacherClasses): a label must then be one of its class
   * names, and the error for one that is not names the teacher.
   */
  classesFromTeacher?: string;
  /**
   * Text files: augmented copies of each training row (masking, n-gram sampling), drawn from `seed` and
   * appended unlabeled, so that they join the transfer set; never test rows. Default: none.
   */
  augment?: TextAugment;
  /** Image folders: decoding threads; text files: tokenising threads (default: one per core). */
  workers?: number;
  /** Called as an image folder's split is decoded: images done out of total. */
  onImageProgress?: (split: string, done: number, total: number) => void;
}

/** The rows of a training split and of a test split, as one model takes them. */
export interface TeacherView {
  train: Dataset;
  test: Dataset;
}

/** The data of a run, and the class names when the source has them. */
export interface DataSplits {
  /** The rows the student trains on and is tested on (and a teacher trained by the run). */
  train: Dataset;
  test: Dataset;
  /**
   * Tables (csv:FILE with a header row): the same rows, in the same order and with the same labels, as a
   * teacher given as a file takes them: the raw values, NaN for a missing cell. `train` and `test` are then
   * the student's rows, made from these by `tableContract`. Absent: every model takes `train` and `test`.
   */
  teacherView?: TeacherView;
  classes?: string[];
  /** Images left out because they could not be decoded (--skip-bad-images). */
  skippedImages?: number;
  /** Token-id rows (text): the number of token ids, padding's id 0 included, which the text models need. */
  vocabSize?: number;
  /** What the report should say about how the data was read (such as the class order). */
  notices?: string[];
  /**
   * Text with `augment`: the training rows given followed by their augmented copies, and a notice saying
   * so. loadDataSource applies it after `limit`, so that the copies are of the rows kept.
   */
  augmentTrain?: (train: Dataset) => { train: Dataset; notice: string };
  /**
   * How a raw example becomes one of these rows (the student folder's preprocessing.json). A source that
   * gives none has rows taken as they are (dataInputContract in source-contracts.ts).
   */
  contract?: InputContract;
  /** Files the contract names (a text source's tokenizer files), copied into the student folder under their names. */
  contractFiles?: ContractFile[];
}

/** A file a contract names: its name in the student folder and where it is read from. */
export interface ContractFile {
  name: string;
  path: string;
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
