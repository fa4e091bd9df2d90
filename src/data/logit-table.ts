import { gatherRows } from './gather.js';

/** What crosses to a worker: the table's shared buffer and its size. */
export interface LogitTableHandle {
  buffer: SharedArrayBuffer;
  rows: number;
  classes: number;
}

/**
 * A rows x classes float32 table of model outputs (logits) in shared memory. Workers write their rows in
 * place, so gathering needs no copies and keeps row order. The teacher's table over the training split is
 * the soft-label table the student learns from; the evaluation writes one per model over the test split.
 */
export class LogitTable {
  readonly values: Float32Array;

  private constructor(readonly handle: LogitTableHandle) {
    this.values = new Float32Array(handle.buffer);
  }

  static create(rows: number, classes: number): LogitTable {
    const table = new LogitTable({ buffer: new SharedArrayBuffer(rows * classes * 4), rows, classes });
    table.values.fill(Number.NaN); // unwritten rows stay visible as NaN
    return table;
  }

  static attach(handle: LogitTableHandle): LogitTable {
    return new LogitTable(handle);
  }

  get rows(): number {
    return this.handle.rows;
  }

  get classes(): number {
    return this.handle.classes;
  }

  /** The logits of one row (a view, not a copy). */
  row(index: number): Float32Array {
    return this.values.subarray(index * this.classes, (index + 1) * this.classes);
  }

  /** Writes consecutive rows starting at `firstRow`. */
  writeRows(firstRow: number, logits: Float32Array): void {
    this.values.set(logits, firstRow * this.classes);
  }

  /** Copies the logits of `rows[start..end)` into `out`, row after row. */
  gather(rows: ArrayLike<number>, start: number, end: number, out: Float32Array): Float32Array {
    return gatherRows(this.values, this.classes, rows, start, end, out);
  }

  /** The index of the largest logit in each row (the predicted class). */
  argmax(): Int32Array {
    const out = new Int32Array(this.rows);
    const c = this.classes;
    for (let r = 0; r < this.rows; r++) {
      let best = 0;
      for (let k = 1; k < c; k++) if (this.values[r * c + k] > this.values[r * c + best]) best = k;
      out[r] = best;
    }
    return out;
  }

  /** True when every value is finite, i.e. every row was written and none overflowed. */
  allFinite(): boolean {
    for (let i = 0; i < this.values.length; i++) if (!Number.isFinite(this.values[i])) return false;
    return true;
  }
}
