import { readFile } from 'node:fs/promises';
import { DistillError, check, messageOf } from '../errors.js';
import type { Dataset } from './dataset.js';

/** Spellings Number() reads as non-finite: numeric to a reader, so not header text, but still rejected. */
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i;

/** Whether a cell reads as a number (finite or not); an empty cell does not. */
function looksNumeric(cell: string): boolean {
  return cell !== '' && (!Number.isNaN(Number(cell)) || NON_FINITE.test(cell));
}

/** A Float32Array that grows by doubling, so a large file never passes through a number[] of all its values. */
class FloatBuilder {
  private values = new Float32Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  /** The values pushed, trimmed to length. */
  finish(): Float32Array {
    return this.values.slice(0, this.length);
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DistillError(`csv file ${file} does not exist; check the path`);
    if (code === 'EISDIR') throw new DistillError(`csv file ${file} is a directory; give the path of a CSV file`);
    throw new DistillError(`cannot read csv file ${file}: ${messageOf(error)}`);
  }
}

/**
 * Loads a CSV file of labelled examples: a class index (0, 1, ...) in the first column, numeric features
 * after it. A first line whose every cell is non-numeric is a header and is skipped; blank lines are too.
 */
export async function loadCsv(file: string): Promise<Dataset> {
  // Spreadsheets often save a byte-order mark, which would make the first cell non-numeric.
  const lines = (await readText(file)).replace(/^\uFEFF/, '').split(/\r?\n/);
  const x = new FloatBuilder();
  const labels: number[] = [];
  let columns = 0;
  let firstLine = 0;
  let hasHeader = false;
  let maxLabel = 0;
  let minLabel = Number.POSITIVE_INFINITY;
  for (let index = 0; index < lines.length; index++) {
    if (lines[index].trim() === '') continue;
    const lineNo = index + 1;
    const where = `${file} line ${lineNo}`;
    const cells = lines[index].split(',').map((cell) => cell.trim());
    if (columns === 0) {
      columns = cells.length;
      firstLine = lineNo;
      check(columns >= 2, `${where}: 1 column; every row needs a label in the first column followed by at least one numeric feature`);
      if (cells.every((cell) => !looksNumeric(cell))) {
        hasHeader = true;
        continue;
      }
    }
    check(
      cells.length === columns,
      () =>
        `${where}: ${cells.length} columns, but line ${firstLine} has ${columns}; ` +
        'every row needs a label followed by the same number of features',
    );
    for (let column = 0; column < columns; column++) {
      const cell = cells[column];
      const at = `${where}, column ${column + 1}`;
      check(cell !== '', `${at}: the cell is empty; every cell needs a finite number`);
      const value = Number(cell);
      if (Number.isNaN(value) && !NON_FINITE.test(cell)) {
        // Only a line where every cell is text counts as a header, so say so when line 1 was nearly one.
        const hint = lineNo === firstLine ? ' (a first line is skipped as a header only when every cell is non-numeric)' : '';
        throw new DistillError(`${at}: '${cell}' is not a number${hint}`);
      }
      check(Number.isFinite(value), `${at}: '${cell}' is not finite; every cell needs a finite number`);
      if (column === 0) {
        check(
          Number.isInteger(value) && value >= 0 && value < 2 ** 31,
          `${at}: label '${cell}' is not a non-negative integer; the first column holds class indices 0, 1, 2, ...`,
        );
        labels.push(value);
        if (value > maxLabel) maxLabel = value;
        if (value < minLabel) minLabel = value;
      } else {
        x.push(value);
      }
    }
  }
  check(columns > 0, `csv file ${file} is empty; it needs rows of a label followed by numeric features`);
  check(
    labels.length > 0,
    `csv file ${file} has ${hasHeader ? 'a header but ' : ''}no data rows; it needs rows of a label followed by numeric features`,
  );
  check(
    minLabel < maxLabel,
    `csv file ${file}: every row has label ${maxLabel}, but a classifier needs at least 2 classes; check the label column (the first)`,
  );
  return {
    x: x.finish(),
    y: Int32Array.from(labels),
    shape: [labels.length, columns - 1],
    numClasses: Math.max(2, maxLabel + 1),
  };
}
