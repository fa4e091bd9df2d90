import { DistillError, check } from '../../errors.js';
import { type DelimitedRow, delimitedRows, separatorOf } from '../text/delimited-rows.js';
import type { LabelValue } from '../text/tokenised-file.js';

/** Which columns of a table file hold what, by name: only a file with a header row names its columns. */
export interface TableColumns {
  /**
   * The label column; default: one named label, target or class (in that order, any case), else the first.
   * null: none (a file with a header whose rows are all unlabeled, as predict reads one).
   */
  labelField?: string | null;
  /** The feature columns, in the order the models take them; default: every named column but the label. */
  features?: readonly string[];
}

/**
 * A CSV or TSV file read as it is: each row's feature values (NaN where a cell is missing) and label.
 *
 * A file whose first line has a cell that is text (not a number, not empty) has a header row naming its
 * columns; a feature cell that is empty, `NA` or `NaN` is then missing. A file without one is the older
 * form: the class index in the first column, a finite number in every other.
 */
export interface TableFile {
  readonly file: string;
  readonly hasHeader: boolean;
  /** The label column's name (`column 1` without a header). */
  readonly labelColumn: string;
  /** The feature columns' names, in order (`column 2`, `column 3`, ... without a header). */
  readonly columns: readonly string[];
  readonly rows: number;
  /** rows x columns values, row-major; NaN for a missing cell. */
  readonly x: Float32Array;
  /** The distinct labels as written, each with the first line it is on, and each row's index among them (-1: unlabeled). */
  readonly labels: readonly LabelValue[];
  readonly labelCodes: Int32Array;
  /** The first line of a row without a label, if any (a test split needs every label). */
  readonly firstUnlabeledLine: number | undefined;
}

/** The names a label column goes by when labelField does not say, in the order they are looked for. */
const LABEL_NAMES = ['label', 'target', 'class'];

/** Spellings Number() reads as non-finite: numeric to a reader, so not header text, but never a finite value. */
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i;
/** What a missing feature cell holds in a file with a header: nothing, `NA` or `NaN` (any case). */
const MISSING = /^(|na|nan)$/i;

/** Whether a cell reads as a number (finite or not); an empty cell does not. */
const looksNumeric = (cell: string): boolean => cell !== '' && (!Number.isNaN(Number(cell)) || NON_FINITE.test(cell));

/** The label column when labelField does not say: the first named like a label (LABEL_NAMES, in that order), else the first. */
function defaultLabelIndex(names: string[]): number {
  const lower = names.map((name) => name.toLowerCase());
  return LABEL_NAMES.map((name) => lower.indexOf(name)).find((column) => column >= 0) ?? 0;
}

/** The column named like a label (label, target or class, in that order, any case), if the header has one. */
export function labelNamedColumn(names: readonly string[]): string | undefined {
  const lower = names.map((name) => name.toLowerCase());
  const column = LABEL_NAMES.map((name) => lower.indexOf(name)).find((found) => found >= 0);
  return column === undefined ? undefined : names[column];
}

/** The column names of a table file's header row, or undefined when its first row is all numbers (no header). */
export async function readTableHeader(file: string): Promise<string[] | undefined> {
  for await (const rows of delimitedRows(file, separatorOf(file), 'csv file')) {
    const first = rows.find((row) => !(row.cells.length === 1 && row.cells[0].trim() === ''));
    if (!first) continue;
    const cells = first.cells.map((cell) => cell.trim());
    return cells.some((cell) => cell !== '' && !looksNumeric(cell)) ? cells : undefined;
  }
  return undefined;
}

/** A typed array that grows by doubling, so that a large file never passes through a number[] of all its values. */
class GrowingArray<T extends Float32Array | Int32Array> {
  length = 0;
  constructor(private values: T) {}

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new (this.values.constructor as new (length: number) => T)(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  /** The values pushed, trimmed to length. */
  finish(): T {
    return this.values.slice(0, this.length) as T;
  }
}

/** Where the label and the features are in each row, as the first row settled it. */
interface Layout {
  hasHeader: boolean;
  labelIndex: number;
  labelColumn: string;
  featureIndices: number[];
  columns: string[];
  /** The cells of every row, and the line that set that number. */
  count: number;
  countLine: number;
  /** Whether the features were chosen by default (every column but the label), which an error then says. */
  defaultFeatures: boolean;
}

/**
 * Reads a CSV (or, by its `.tsv` extension, TSV) file of labelled rows as a stream; see TableFile for the two
 * forms. `like`: a file read before (the training file) that this one must match: its form, its label column
 * and its feature columns, found here by name.
 */
export async function readTableFile(file: string, columns: TableColumns = {}, like?: TableFile): Promise<TableFile> {
  const reader = new TableReader(file, like?.hasHeader ? { labelField: like.labelColumn, features: like.columns } : columns, like);
  for await (const rows of delimitedRows(file, separatorOf(file), 'csv file')) for (const row of rows) reader.read(row);
  return reader.finish();
}

class TableReader {
  private layout: Layout | undefined;
  private readonly x = new GrowingArray(new Float32Array(1024));
  private readonly codes = new GrowingArray(new Int32Array(256));
  private readonly labels: LabelValue[] = [];
  private readonly codeOf = new Map<string, number>();
  private firstUnlabeledLine: number | undefined;

  constructor(
    private readonly file: string,
    private readonly given: TableColumns,
    private readonly like: TableFile | undefined,
  ) {}

  read({ cells: written, line }: DelimitedRow): void {
    if (written.length === 1 && written[0].trim() === '') return; // a line of spaces
    // Spreadsheets pad cells with spaces, and may start the file with a byte-order mark.
    const cells = written.map((cell) => cell.trim());
    if (!this.layout) {
      this.layout = this.settle(cells, line);
      const { like } = this;
      check(
        !like || like.hasHeader === this.layout.hasHeader,
        () =>
          `${like!.hasHeader ? like!.file : this.file} has a header row and ${like!.hasHeader ? this.file : like!.file} has none; ` +
          'give both files the same form',
        ['testData'],
      );
      if (this.layout.hasHeader) return;
    }
    const layout = this.layout;
    const where = `${this.file} line ${line}`;
    check(
      cells.length === layout.count,
      () =>
        `${where}: ${cells.length} columns, but line ${layout.countLine}${layout.hasHeader ? ' (the header)' : ''} has ${layout.count}; ` +
        `every row needs ${layout.hasHeader ? 'a cell for each column of the header' : 'a label followed by the same number of features'}`,
    );
    this.readLabel(layout.labelIndex < 0 ? '' : cells[layout.labelIndex], line, layout);
    layout.featureIndices.forEach((column, i) => {
      this.x.push(
        layout.hasHeader ? this.namedCell(cells[column], where, layout.columns[i], layout) : this.indexCell(cells[column], where, column),
      );
    });
  }

  finish(): TableFile {
    const { file, layout } = this;
    check(layout, `csv file ${file} is empty; it needs a header row naming the columns, then rows of a label and numeric features`);
    check(
      this.codes.length > 0,
      `csv file ${file} has ${layout.hasHeader ? 'a header but ' : ''}no data rows; it needs rows of a label followed by numeric features`,
    );
    if (!layout.hasHeader) {
      // The older form labels every row with a class index: one index alone cannot train a classifier.
      check(
        this.labels.length >= 2,
        `csv file ${file}: every row has label ${this.labels[0].value}, but a classifier needs at least 2 classes; check the label column (the first)`,
      );
    }
    return {
      file,
      hasHeader: layout.hasHeader,
      labelColumn: layout.labelColumn,
      columns: layout.columns,
      rows: this.codes.length,
      x: this.x.finish(),
      labels: this.labels,
      labelCodes: this.codes.finish(),
      firstUnlabeledLine: this.firstUnlabeledLine,
    };
  }

  /** The layout the first row sets: a header row names the columns; a row of numbers starts a file without one. */
  private settle(cells: string[], line: number): Layout {
    const text = cells.find((cell) => cell !== '' && !looksNumeric(cell));
    if (text === undefined) return this.positional(cells, line);
    const where = `${this.file} line ${line}`;
    const numeric = cells.find(looksNumeric);
    check(
      numeric === undefined,
      `${where} has the text '${text}', so it is the header row, but its cell '${numeric}' is a number; ` +
        'name every column in the header, or give a file without one (the class index first, numeric features after)',
    );
    cells.forEach((name, column) => {
      const again = cells.indexOf(name, column + 1);
      check(
        name === '' || again < 0,
        `${where}: the header names column ${column + 1} and ${again + 1} '${name}'; give each column its own name`,
      );
    });
    const { labelField, features } = this.given;
    const listed = cells.filter((name) => name !== '').join(', ');
    const labelIndex = labelField === null ? -1 : labelField !== undefined ? cells.indexOf(labelField) : defaultLabelIndex(cells);
    check(
      labelField === null || labelIndex >= 0,
      `${this.file} has no column '${labelField}' (its columns: ${listed}); set labelField to the column of the labels`,
      ['labelField'],
    );
    const labelColumn = labelIndex < 0 ? '' : cells[labelIndex];
    const featureIndices =
      features === undefined
        ? cells.flatMap((name, column) => (column === labelIndex || name === '' ? [] : [column]))
        : features.map((name, i) => {
            check(features.indexOf(name) === i, `features names '${name}' twice; give each feature column once`, ['features']);
            check(name !== labelColumn, `features names '${name}', the label column; leave it out of features or set labelField`, [
              'features',
              'labelField',
            ]);
            const column = cells.indexOf(name);
            check(column >= 0, `${this.file} has no column '${name}' (its columns: ${listed}); fix features`, ['features']);
            return column;
          });
    check(featureIndices.length > 0, `${this.file} has no column besides the label '${labelColumn}'; a row needs at least one feature`);
    return {
      hasHeader: true,
      labelIndex,
      labelColumn,
      featureIndices,
      columns: featureIndices.map((column) => cells[column]),
      count: cells.length,
      countLine: line,
      defaultFeatures: features === undefined,
    };
  }

  /** The older form: the class index first, numeric features after; the columns have no names to choose by. */
  private positional(cells: string[], line: number): Layout {
    const where = `${this.file} line ${line}`;
    check(cells.length >= 2, `${where}: 1 column; every row needs a label in the first column followed by at least one numeric feature`);
    // A test file read like a training file with a header is refused as such, after this.
    for (const option of this.like ? [] : (['labelField', 'features'] as const)) {
      check(
        this.given[option] === undefined,
        `${option} names columns, but ${this.file} has no header row (its first line is all numbers); add a header naming the columns, or leave out ${option}`,
        [option],
      );
    }
    const featureIndices = cells.slice(1).map((_, i) => i + 1);
    return {
      hasHeader: false,
      labelIndex: 0,
      labelColumn: 'column 1',
      featureIndices,
      columns: featureIndices.map((column) => `column ${column + 1}`),
      count: cells.length,
      countLine: line,
      defaultFeatures: true,
    };
  }

  private readLabel(cell: string, line: number, layout: Layout): void {
    const where = `${this.file} line ${line}`;
    if (cell === '') {
      check(layout.hasHeader, `${where}, column 1: the cell is empty; every cell needs a finite number`);
      this.firstUnlabeledLine ??= line;
      this.codes.push(-1);
      return;
    }
    let key = cell;
    let value: string | number = cell;
    if (!layout.hasHeader) {
      const index = Number(cell);
      check(
        Number.isInteger(index) && index >= 0 && index < 2 ** 31,
        `${where}, column 1: label '${cell}' is not a non-negative integer; the first column holds class indices 0, 1, 2, ...`,
      );
      key = String(index);
      value = index;
    }
    let code = this.codeOf.get(key);
    if (code === undefined) {
      code = this.labels.length;
      this.codeOf.set(key, code);
      this.labels.push({ value, line });
    }
    this.codes.push(code);
  }

  /** A feature cell of a file with a header: a finite number, or NaN when missing. */
  private namedCell(cell: string, where: string, column: string, layout: Layout): number {
    const value = Number(cell);
    if (Number.isFinite(value) && cell !== '') return value; // the common case, with no message built
    if (MISSING.test(cell)) return Number.NaN;
    const at = `${where}, column '${column}'`;
    if (Number.isNaN(value) && !NON_FINITE.test(cell)) {
      const chosen = layout.defaultFeatures ? ' (without features, every column but the label is one)' : '';
      throw new DistillError(
        `${at}: '${cell}' is not a number; a feature column holds numbers (empty, NA or NaN when missing): leave the column out of features${chosen} or fix the cell`,
        ['features'],
      );
    }
    throw new DistillError(`${at}: '${cell}' is not finite; a feature needs a finite number (empty, NA or NaN when missing)`);
  }

  /** A feature cell of a file without a header: always a finite number. */
  private indexCell(cell: string, where: string, column: number): number {
    const value = Number(cell);
    if (Number.isFinite(value) && cell !== '') return value; // the common case, with no message built
    const at = `${where}, column ${column + 1}`;
    check(cell !== '', `${at}: the cell is empty; every cell needs a finite number`);
    if (Number.isNaN(value) && !NON_FINITE.test(cell)) throw new DistillError(`${at}: '${cell}' is not a number`);
    throw new DistillError(`${at}: '${cell}' is not finite; every cell needs a finite number`);
  }
}
