/**
 * The input contract of a model: how a raw example (an image's pixels, a table row's cells, a text) becomes
 * the row of numbers the model takes. A run writes it into the student folder as `preprocessing.json`, and
 * `predict` and the browser entry point apply it, so that a shipped student is fed exactly as it was trained.
 *
 * Type-only and free of Node built-ins: the browser entry point reads it too.
 */

/** The version of `preprocessing.json` this code writes; readers refuse a newer one. */
export const INPUT_CONTRACT_VERSION = 1;

/** Fields every contract has. */
export interface InputContractBase {
  /** Always `tfjs-distill/preprocessing`: marks the file for readers. */
  format: 'tfjs-distill/preprocessing';
  /** {@link INPUT_CONTRACT_VERSION} when written. */
  version: number;
  /** One row's shape as the model takes it, without the batch dimension. */
  inputShape: number[];
}

/**
 * Images: pixels in row-major height x width x channels order (channels last), each value
 * `(pixel * scale - mean[c]) / std[c]`.
 */
export interface ImageContract extends InputContractBase {
  kind: 'image';
  height: number;
  width: number;
  channels: 1 | 3;
  /** Always `hwc` (channels last), the layout tfjs models take. */
  layout: 'hwc';
  /** What a 0..255 pixel is multiplied by first: 1/255 for pixels read from images or IDX files. */
  scale: number;
  /** Per-channel mean subtracted after scaling; absent means 0. */
  mean?: number[];
  /** Per-channel standard deviation divided by after the mean; absent means 1. */
  std?: number[];
}

/**
 * Table rows: the named columns in this order, each standardised as `(value - mean[i]) / std[i]`. A missing
 * cell (empty, `NA`, `NaN`) is handled as `missing` says.
 */
export interface TableContract extends InputContractBase {
  kind: 'table';
  /** The feature columns, in the order the model takes them. */
  columns: string[];
  /** Per column, from the training rows only. */
  mean: number[];
  /** Per column, from the training rows only; a constant column has 1. */
  std: number[];
  /**
   * `mean-and-indicator`: a missing cell becomes the column's training mean (0 after standardising), and one
   * extra 0/1 input per column in `indicators` (appended after the columns, in that order) says it was missing.
   * `none`: the training data had no missing cells, and a missing cell is an error.
   */
  missing: 'mean-and-indicator' | 'none';
  /** The columns that have a missing-value indicator input, in the order those inputs follow the columns. */
  indicators?: string[];
}

/**
 * Texts: tokenised with the tokenizer files in the folder, truncated on the right to `maxLength` tokens
 * (special tokens kept), then padded with 0. The model's padding is id 0, so the tokenizer's pad id and id 0
 * trade places (RoBERTa: `<pad>` is 1 and `<s>` 0); a tokenizer whose pad id is 0 keeps its ids.
 */
export interface TextContract extends InputContractBase {
  kind: 'text';
  /** The tokenizer's files, relative to the folder: `tokenizer.json`, and `tokenizer_config.json` if any. */
  tokenizerFiles: string[];
  maxLength: number;
  /** The tokenizer's own pad id, which trades places with id 0 before the ids enter the model. */
  tokenizerPadId: number;
  truncationSide: 'right';
  /** Where the text (and a pair's second text) is found in a row object: the data's field names. */
  textField: string;
  textPairField?: string;
}

/** Rows the model takes as given (NPY arrays, already-numeric CSV files, logits): `inputShape` numbers each. */
export interface VectorContract extends InputContractBase {
  kind: 'vector';
  /** What each value is multiplied by first: 1/255 for uint8 arrays (read as pixels); absent means 1. */
  scale?: number;
}

/** What `preprocessing.json` holds. */
export type InputContract = ImageContract | TableContract | TextContract | VectorContract;
