import type { Dataset } from './dataset.js';
import { type TableColumns, readTableFile } from './table/table-file.js';
import { classLabels, textClasses } from './text/text-classes.js';

/** How {@link loadCsv} reads a table: its columns, and the class order. */
export interface CsvOptions extends TableColumns {
  /** The class names in output order; default: the sorted labels (class indices: as many classes as the largest needs). */
  classes?: string[];
}

/**
 * Loads one CSV file (or, by its `.tsv` extension, TSV) of labelled rows as it is, read as a stream. With a
 * header row (a first line with a text cell) the columns are named: the label column is `labelField`, else
 * one named label, target or class, else the first; the features are `features`, else every other named
 * column; a label may be a class name or index (empty: unlabeled, -1); a missing feature cell (empty, `NA`,
 * `NaN`) is NaN. Without one, the first column holds the class index and every other a finite number.
 * The values are not standardised: `loadDataSource` with `csv:FILE` gives the student's rows too.
 */
export async function loadCsv(file: string, options: CsvOptions = {}): Promise<Dataset> {
  const table = await readTableFile(file, options);
  const order = textClasses([table], options.classes, table.labelColumn);
  return { x: table.x, y: classLabels(table, order), shape: [table.rows, table.columns.length], numClasses: order.numClasses };
}
