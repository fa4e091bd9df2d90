import { check } from '../errors.js';
import { seededPermutation } from '../random.js';
import type { TokenRowsInfo } from './text/token-rows.js';
import type { TokenIdArray, TokenIdType } from './text/token-table.js';

/** A dataset's feature values: float32, uint8 pixels, or token ids (text) in the narrowest integer type. */
export type FeatureArray = Float32Array | TokenIdArray;

/** The element type of shared features: float32 for images, tables and vectors; an integer type for token ids. */
export type FeatureType = 'float32' | TokenIdType;

/**
 * A labelled (or partly labelled) table of examples, as the loaders return it and `distill` takes it.
 *
 * Features are row-major. A `Uint8Array` holds pixels 0..255 and is scaled by 1/255 when the run starts;
 * a `Float32Array` is used as given. Text rows (`tokens` set) hold token ids, as float32 or in the narrowest
 * integer type of the vocabulary (`Uint8Array`, `Uint16Array`, `Int32Array`), which the run keeps as they are.
 */
export interface Dataset {
  /** rows x (product of the feature shape) values. */
  x: Float32Array | Uint8Array | Uint16Array | Int32Array;
  /** One class index per row; -1 marks an unlabeled row, which joins the transfer set. */
  y: Int32Array;
  /** [rows, ...featureShape], for example [60000, 28, 28] for Fashion-MNIST. */
  shape: number[];
  /** Number of classes; labels lie in [0, numClasses). */
  numClasses: number;
  /**
   * How the rows were made, beyond their values (text: a digest of the tokenizer's files, the maximum length,
   * the fields and the augmentation): the soft-label store's key and a checkpoint's fingerprint cover it.
   */
  preprocessingKey?: string;
  /** Token-id rows (text data): how the tokenizer made them, which a teacher fed its own ids needs. */
  tokens?: TokenRowsInfo;
}

/** Number of rows of a dataset. */
export function rowCount(dataset: Dataset): number {
  return dataset.shape[0];
}

/** The shape of one row, e.g. [28, 28]. */
export function featureShape(dataset: Pick<Dataset, 'shape'>): number[] {
  return dataset.shape.slice(1);
}

/** Number of values in one row. */
export function rowSize(dataset: Pick<Dataset, 'shape'>): number {
  return featureShape(dataset).reduce((a, b) => a * b, 1);
}

/** Whether the features are uint8 pixels, which the run scales by 1/255 (uint8 token ids are not scaled). */
export function holdsPixels(dataset: Pick<Dataset, 'x' | 'tokens'>): boolean {
  return dataset.x instanceof Uint8Array && dataset.tokens === undefined;
}

/** The element type the run keeps the features in: token ids stay integers, everything else becomes float32. */
export function featureTypeOf(dataset: Pick<Dataset, 'x' | 'tokens'>): FeatureType {
  const { x } = dataset;
  if (dataset.tokens === undefined || x instanceof Float32Array) return 'float32';
  return x instanceof Uint8Array ? 'uint8' : x instanceof Uint16Array ? 'uint16' : 'int32';
}

/** Checks that a dataset is internally consistent; `name` says which one in the message ("train", "test"). */
export function validateDataset(dataset: Dataset, name: string): void {
  check(
    dataset && (dataset.x instanceof Float32Array || dataset.x instanceof Uint8Array || isTokenIds(dataset)),
    `${name} data: x must be a Float32Array or Uint8Array (token ids, with tokens set: also Uint16Array or Int32Array)`,
  );
  check(dataset.y instanceof Int32Array, `${name} data: y must be an Int32Array of class indices (-1 for unlabeled)`);
  check(
    Array.isArray(dataset.shape) && dataset.shape.length >= 2 && dataset.shape.every((d) => Number.isInteger(d) && d > 0),
    `${name} data: shape must be [rows, ...featureShape] with positive integers, got [${dataset.shape}]`,
  );
  check(
    Number.isInteger(dataset.numClasses) && dataset.numClasses >= 2,
    `${name} data: numClasses must be an integer >= 2, got ${dataset.numClasses}`,
  );
  const rows = rowCount(dataset);
  check(
    dataset.x.length === rows * rowSize(dataset),
    `${name} data: x has ${dataset.x.length} values but shape [${dataset.shape}] needs ${rows * rowSize(dataset)}`,
  );
  check(dataset.y.length === rows, `${name} data: y has ${dataset.y.length} labels for ${rows} rows`);
  for (let i = 0; i < rows; i++) {
    const label = dataset.y[i];
    check(
      label === -1 || (label >= 0 && label < dataset.numClasses),
      () =>
        `${name} data: label ${label} at row ${i} is outside [0, ${dataset.numClasses}); ` +
        `labels must be class indices 0..${dataset.numClasses - 1}, or -1 for unlabeled rows`,
    );
  }
}

/** Integer token ids beyond uint8: text rows only. */
function isTokenIds(dataset: Dataset): boolean {
  return dataset.tokens !== undefined && (dataset.x instanceof Uint16Array || dataset.x instanceof Int32Array);
}

/** The first `n` rows (all of them if there are fewer). */
export function takeRows(dataset: Dataset, n: number): Dataset {
  const rows = Math.min(n, rowCount(dataset));
  const size = rowSize(dataset);
  return {
    x: dataset.x.subarray(0, rows * size),
    y: dataset.y.subarray(0, rows),
    shape: [rows, ...featureShape(dataset)],
    numClasses: dataset.numClasses,
    ...(dataset.preprocessingKey !== undefined && { preprocessingKey: dataset.preprocessingKey }),
    ...(dataset.tokens && { tokens: dataset.tokens }),
  };
}

/**
 * Keeps the hard labels of the first `n` rows and marks the rest unlabeled (-1): they become the transfer
 * set, which the student learns from through the teacher's soft labels alone.
 */
export function keepLabels(dataset: Dataset, n: number): Dataset {
  const y = dataset.y.slice();
  y.fill(-1, Math.min(n, y.length));
  return { ...dataset, y };
}

/** Number of labelled rows. */
export function labeledCount(dataset: Dataset): number {
  let count = 0;
  for (let i = 0; i < dataset.y.length; i++) if (dataset.y[i] >= 0) count++;
  return count;
}

/** Selects rows by index into a new dataset. */
function selectRows(dataset: Dataset, indices: ArrayLike<number>): Dataset {
  const size = rowSize(dataset);
  const x = new (dataset.x.constructor as Float32ArrayConstructor)(indices.length * size);
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i];
    x.set(dataset.x.subarray(row * size, (row + 1) * size), i * size);
    y[i] = dataset.y[row];
  }
  // Token-id rows stay token ids (an integer x is read as ids only beside their tokens info).
  return {
    x,
    y,
    shape: [indices.length, ...featureShape(dataset)],
    numClasses: dataset.numClasses,
    ...(dataset.tokens && { tokens: dataset.tokens }),
  };
}

/**
 * Splits off a seeded random `testFraction` of the rows as a test set; the rest stay in their original
 * order as the training set.
 */
export function splitDataset(dataset: Dataset, testFraction: number, seed: number): { train: Dataset; test: Dataset } {
  check(testFraction > 0 && testFraction < 1, `testFraction must lie strictly between 0 and 1, got ${testFraction}`, ['testFraction']);
  const rows = rowCount(dataset);
  const testRows = Math.round(rows * testFraction);
  check(
    testRows >= 1 && testRows < rows,
    `a test fraction of ${testFraction} leaves no rows for one of the splits of ${rows} rows; choose another testFraction`,
    ['testFraction'],
  );
  const order = seededPermutation(rows, seed);
  const isTest = new Uint8Array(rows);
  for (let i = 0; i < testRows; i++) isTest[order[i]] = 1;
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  for (let i = 0; i < rows; i++) (isTest[i] ? testIdx : trainIdx).push(i);
  return { train: selectRows(dataset, trainIdx), test: selectRows(dataset, testIdx) };
}

/**
 * Which rows a seeded `testFraction` of the labelled rows (label >= 0) holds out as a test split: 1 for a
 * test row. Unlabeled rows stay training rows (the transfer set); when every row is labelled this picks the
 * rows {@link splitDataset} picks.
 */
export function heldOutTestRows(labels: Int32Array, testFraction: number, seed: number): Uint8Array {
  const labelled = Int32Array.from(labels.keys()).filter((row) => labels[row] >= 0);
  const testRows = Math.round(labelled.length * testFraction);
  check(
    testRows >= 1 && testRows < labelled.length,
    `a test fraction of ${testFraction} of the ${labelled.length} labelled rows leaves one split empty; choose another testFraction or give testData`,
    ['testFraction'],
  );
  const order = seededPermutation(labelled.length, seed);
  const isTest = new Uint8Array(labels.length);
  for (let i = 0; i < testRows; i++) isTest[labelled[order[i]]] = 1;
  return isTest;
}
