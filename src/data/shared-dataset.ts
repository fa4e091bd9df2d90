import { gatherRows } from './gather.js';
import {
  type Dataset,
  type FeatureArray,
  type FeatureType,
  featureShape,
  featureTypeOf,
  rowCount,
  rowSize,
  validateDataset,
} from './dataset.js';
import type { TokenRowsInfo } from './text/token-rows.js';
import { bytesPerTokenId, tokenIdArray } from './text/token-table.js';

/**
 * What crosses to a worker: SharedArrayBuffers are shared, not copied, by postMessage, so every worker
 * reads the one copy the coordinator loaded.
 */
export interface SharedDatasetHandle {
  features: SharedArrayBuffer;
  /** The element type of `features`: float32, or the integer type of text rows' token ids. */
  featureType: FeatureType;
  labels: SharedArrayBuffer;
  rows: number;
  featureShape: number[];
  numClasses: number;
}

/**
 * A dataset in shared memory: float32 features (uint8 pixels already scaled to [0, 1]), or token ids in
 * the narrowest integer type of their vocabulary (text), and int32 labels (-1 = unlabeled). Loaded once by
 * the coordinator; workers attach to it zero-copy.
 */
export class SharedDataset {
  readonly features: FeatureArray;
  readonly labels: Int32Array;
  readonly rowSize: number;

  private constructor(
    readonly handle: SharedDatasetHandle,
    /** Token-id rows: how they were made (the coordinator's, for opening a text teacher; not sent to workers). */
    readonly tokens?: TokenRowsInfo,
  ) {
    this.features = featureView(handle.featureType, handle.features);
    this.labels = new Int32Array(handle.labels);
    this.rowSize = handle.featureShape.reduce((a, b) => a * b, 1);
  }

  /**
   * Copies a validated dataset into shared memory, scaling uint8 pixels by 1/255; token ids keep their
   * integer type. Features of the type kept that already fill a SharedArrayBuffer of their own (as text
   * data is loaded) are shared as they are, not copied.
   */
  static fromDataset(dataset: Dataset, name: string): SharedDataset {
    validateDataset(dataset, name);
    const rows = rowCount(dataset);
    const { x } = dataset;
    const featureType = featureTypeOf(dataset);
    const kept = featureType === 'float32' ? x instanceof Float32Array : true;
    const inPlace = kept && x.buffer instanceof SharedArrayBuffer && x.byteOffset === 0 && x.byteLength === x.buffer.byteLength;
    const bytes = rows * rowSize(dataset) * (featureType === 'float32' ? 4 : bytesPerTokenId(featureType));
    const handle: SharedDatasetHandle = {
      features: inPlace ? (x.buffer as SharedArrayBuffer) : new SharedArrayBuffer(bytes),
      featureType,
      labels: new SharedArrayBuffer(rows * 4),
      rows,
      featureShape: featureShape(dataset),
      numClasses: dataset.numClasses,
    };
    const features = featureView(featureType, handle.features);
    if (!kept) {
      for (let i = 0; i < x.length; i++) features[i] = x[i] / 255;
    } else if (!inPlace) {
      features.set(x);
    }
    new Int32Array(handle.labels).set(dataset.y);
    return new SharedDataset(handle, dataset.tokens);
  }

  /** Attaches to a dataset another thread put in shared memory. */
  static attach(handle: SharedDatasetHandle): SharedDataset {
    return new SharedDataset(handle);
  }

  get rows(): number {
    return this.handle.rows;
  }

  get featureShape(): number[] {
    return this.handle.featureShape;
  }

  get numClasses(): number {
    return this.handle.numClasses;
  }

  /**
   * Copies the feature rows `rows[start..end)` into `out`, row after row, as the float32 a model takes
   * (token ids converted on the way).
   */
  gatherFeatures(rows: ArrayLike<number>, start: number, end: number, out: Float32Array): Float32Array {
    const { features, rowSize } = this;
    if (features instanceof Float32Array) return gatherRows(features, rowSize, rows, start, end, out);
    for (let i = start; i < end; i++) {
      const from = rows[i] * rowSize;
      const to = (i - start) * rowSize;
      for (let k = 0; k < rowSize; k++) out[to + k] = features[from + k];
    }
    return out.subarray(0, (end - start) * rowSize);
  }

  /** Copies the labels of `rows[start..end)` into `out`. */
  gatherLabels(rows: ArrayLike<number>, start: number, end: number, out: Int32Array): Int32Array {
    return gatherRows(this.labels, 1, rows, start, end, out);
  }

  /**
   * The same rows with the labels after the first `n` hidden (-1). The features stay shared: only the
   * labels are copied.
   */
  keepLabels(n: number): SharedDataset {
    const labels = new SharedArrayBuffer(this.handle.labels.byteLength);
    const view = new Int32Array(labels);
    view.set(this.labels);
    view.fill(-1, Math.min(n, this.rows));
    return new SharedDataset({ ...this.handle, labels }, this.tokens);
  }

  /** The indices of the labelled rows, in order. */
  labeledRows(): Int32Array {
    const rows: number[] = [];
    for (let i = 0; i < this.rows; i++) if (this.labels[i] >= 0) rows.push(i);
    return Int32Array.from(rows);
  }
}

/** A view of shared features as their type. */
function featureView(type: FeatureType, buffer: SharedArrayBuffer): FeatureArray {
  return type === 'float32' ? new Float32Array(buffer) : tokenIdArray(type, buffer);
}
