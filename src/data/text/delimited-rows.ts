import { extname } from 'node:path';
import { check } from '../../errors.js';
import { fileLines } from './file-lines.js';

/** One row of a CSV or TSV file: its fields as written, and the line it starts on. */
export interface DelimitedRow {
  readonly cells: string[];
  readonly line: number;
}

/** What splits a row's fields: tabs in a `.tsv` file, else commas. */
export type FieldSeparator = ',' | '\t';

/** The separator a table file's extension names: tabs for `.tsv`, commas for anything else. */
export const separatorOf = (file: string): FieldSeparator => (extname(file).toLowerCase() === '.tsv' ? '\t' : ',');

/**
 * The rows of a CSV or TSV file, a chunk of the file at a time, read as a stream (see fileLines). CSV rows
 * follow RFC 4180: fields in double quotes may hold commas, doubled quotes and line breaks. TSV rows are one a
 * line, split on tabs, with no quoting. Empty lines are skipped; `noun` names the file in errors.
 */
export async function* delimitedRows(file: string, separator: FieldSeparator, noun = 'text file'): AsyncGenerator<DelimitedRow[]> {
  const csv = new CsvFields();
  let firstLine = 0;
  for await (const lines of fileLines(file, noun)) {
    const rows: DelimitedRow[] = [];
    for (const { text, number } of lines) {
      if (!csv.quoted) {
        if (text === '') continue;
        firstLine = number;
      }
      const cells = separator === '\t' ? text.split('\t') : csv.read(text);
      if (cells) rows.push({ cells, line: firstLine });
    }
    if (rows.length > 0) yield rows;
  }
  check(!csv.quoted, `${file} line ${firstLine}: a quoted field is not closed before the end of the file; fix the quotes`);
}

/** RFC 4180 fields, read a line at a time: a quoted field may go on over several lines. */
class CsvFields {
  /** The fields of the row read so far, the field being read, and whether it is inside quotes. */
  private cells: string[] = [];
  private cell = '';
  quoted = false;

  /** The row's fields when this line ends it, undefined when a quoted field goes on to the next line. */
  read(text: string): string[] | undefined {
    for (let at = 0; at < text.length; at++) {
      const char = text[at];
      if (this.quoted) {
        if (char !== '"') this.cell += char;
        else if (text[at + 1] === '"') this.cell += text[++at];
        else this.quoted = false;
      } else if (char === ',') {
        this.cells.push(this.cell);
        this.cell = '';
      } else if (char === '"' && this.cell === '') this.quoted = true;
      else this.cell += char;
    }
    if (this.quoted) {
      this.cell += '\n';
      return undefined;
    }
    const cells = [...this.cells, this.cell];
    this.cells = [];
    this.cell = '';
    return cells;
  }
}
