// How a table's raw rows become a neural student's rows; free of Node built-ins, so that whatever feeds a
// shipped student (predict, the browser) applies the same function the run trained it with.
import { check } from '../../errors.js';
import { INPUT_CONTRACT_VERSION, type TableContract } from '../input-contract.js';

/**
 * The input contract of a table's student, from its training rows only (`rows` x `columns.length` raw
 * values, NaN where missing): each column's mean and standard deviation (population; 1 for a constant
 * column) over its values there, and an is-missing input for each column with a missing cell there.
 * `missingAnywhere` says whether any split has a missing cell: the student then takes missing cells
 * (`mean-and-indicator`), else a missing cell is an error (`none`).
 */
export function tableContract(columns: readonly string[], x: Float32Array, rows: number, missingAnywhere: boolean): TableContract {
  const width = columns.length;
  const sums = new Float64Array(width);
  const counts = new Float64Array(width);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < width; column++) {
      const value = x[row * width + column];
      if (Number.isNaN(value)) continue;
      sums[column] += value;
      counts[column]++;
    }
  }
  const mean = Array.from(sums, (sum, column) => sum / counts[column]);
  const squares = new Float64Array(width);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < width; column++) {
      const value = x[row * width + column];
      if (!Number.isNaN(value)) squares[column] += (value - mean[column]) ** 2;
    }
  }
  columns.forEach((name, column) =>
    check(counts[column] > 0, `column '${name}' has no value in the training rows; leave it out of features`, ['features']),
  );
  const std = Array.from(squares, (square, column) => Math.sqrt(square / counts[column]) || 1);
  const indicators = columns.filter((_, column) => counts[column] < rows);
  return {
    format: 'tfjs-distill/preprocessing',
    version: INPUT_CONTRACT_VERSION,
    inputShape: [width + indicators.length],
    kind: 'table',
    columns: [...columns],
    mean,
    std,
    ...(missingAnywhere ? { missing: 'mean-and-indicator', indicators } : { missing: 'none' }),
  };
}

/**
 * A student's rows from raw table rows (`rows` x `contract.columns.length`, in the contract's column order,
 * NaN where missing): each value standardised, `(value - mean) / std`; a missing one the column's mean (0
 * after standardising), and after the columns a 0/1 input per column in `indicators` saying it was missing.
 * Written into `out` when given (of `rows` x inputShape values).
 */
export function applyTableContract(contract: TableContract, raw: Float32Array, rows: number, out?: Float32Array): Float32Array {
  const { columns, mean, std } = contract;
  const width = columns.length;
  const indicators = (contract.indicators ?? []).map((name) => columns.indexOf(name));
  const outWidth = width + indicators.length;
  check(raw.length === rows * width, `table rows: ${raw.length} values are not ${rows} rows of the ${width} columns ${columns.join(', ')}`);
  const rowsOut = out ?? new Float32Array(rows * outWidth);
  check(
    rowsOut.length === rows * outWidth,
    `table rows: room for ${rowsOut.length} values, but ${rows} rows of ${outWidth} inputs need ${rows * outWidth}`,
  );
  for (let row = 0; row < rows; row++) {
    const from = row * width;
    const to = row * outWidth;
    for (let column = 0; column < width; column++) {
      const value = raw[from + column];
      if (Number.isNaN(value)) {
        check(
          contract.missing === 'mean-and-indicator',
          `table row ${row + 1}, column '${columns[column]}' is missing, but the student was trained without missing values; fill the cell`,
        );
        rowsOut[to + column] = 0;
      } else rowsOut[to + column] = (value - mean[column]) / std[column];
    }
    indicators.forEach((column, i) => {
      rowsOut[to + width + i] = Number.isNaN(raw[from + column]) ? 1 : 0;
    });
  }
  return rowsOut;
}
