import { extname } from 'node:path';
import { DistillError, check, messageOf } from '../../errors.js';
import { isPlainObject } from '../../known-keys.js';
import { type FieldSeparator, delimitedRows } from './delimited-rows.js';
import { type NumberedLine, fileLines } from './file-lines.js';

/** The formats of a text file, by its extension. */
export type TextFileFormat = 'jsonl' | 'csv' | 'tsv';

const FORMATS: Readonly<Record<string, TextFileFormat>> = { '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv', '.tsv': 'tsv' };

/** The format a file's extension names. */
export function textFileFormat(file: string): TextFileFormat {
  const format = FORMATS[extname(file).toLowerCase()];
  check(format, `text file ${file}: give a .jsonl (one JSON object a line), .csv or .tsv file (with a header row)`, ['data']);
  return format;
}

/** Which field (JSONL) or column (CSV, TSV) holds what. */
export interface TextFields {
  readonly textField: string;
  readonly labelField: string;
  /** The second text of sentence-pair tasks, when there is one. */
  readonly textPairField?: string;
}

/** One row of a text file. */
export interface TextRecord {
  readonly text: string;
  readonly pair?: string;
  /** The label as written: a class name or a class index; undefined when the row is unlabeled. */
  readonly label: string | number | undefined;
  /** The line the row starts on. */
  readonly line: number;
}

/**
 * The rows of a text file, a chunk of the file at a time: `.jsonl` holds one JSON object a line (blank
 * lines skipped); `.csv` a header row, then RFC 4180 rows (fields in double quotes may hold commas, quotes
 * doubled and line breaks); `.tsv` a header row, then one row a line, fields split on tabs, no quoting.
 */
export async function* textRecords(file: string, fields: TextFields): AsyncGenerator<TextRecord[]> {
  const format = textFileFormat(file);
  if (format !== 'jsonl') {
    yield* tableRecords(file, format === 'csv' ? ',' : '\t', fields);
    return;
  }
  for await (const lines of fileLines(file)) {
    const records: TextRecord[] = [];
    for (const line of lines) {
      const record = jsonRecord(file, line, fields);
      if (record) records.push(record);
    }
    if (records.length > 0) yield records;
  }
}

/** A row's label: a class name, a class index, or undefined for `null`, a missing field or `""`. */
function labelOf(value: unknown, where: string): string | number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  check(
    typeof value === 'number' && Number.isInteger(value) && value >= 0,
    `${where}: label ${JSON.stringify(value)} is neither a class name nor a class index (a whole number >= 0); fix the line`,
    ['labelField'],
  );
  return value;
}

function jsonRecord(file: string, { text, number }: NumberedLine, fields: TextFields): TextRecord | undefined {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DistillError(`${file} line ${number} is not valid JSON (${messageOf(error)}); give one JSON object a line`);
  }
  const where = `${file} line ${number}`;
  check(isPlainObject(value), `${where} is not a JSON object; give one object a line, such as {"text": "...", "label": "..."}`);
  const row = value;
  const textOf = (field: string, option: string) => {
    const found = row[field];
    check(
      found !== undefined && found !== null,
      () =>
        `${where} has no field '${field}' (its fields: ${Object.keys(row).join(', ') || 'none'}); set ${option} to the field of the text`,
      [option],
    );
    check(
      typeof found === 'string',
      `${where}: field '${field}' is a ${typeof found}, not a text; set ${option} to the field of the text`,
      [option],
    );
    return found;
  };
  return {
    text: textOf(fields.textField, 'textField'),
    ...(fields.textPairField !== undefined && { pair: textOf(fields.textPairField, 'textPairField') }),
    label: labelOf(row[fields.labelField], where),
    line: number,
  };
}

/** The rows of a CSV or TSV file after its header row, which names the columns of the fields. */
async function* tableRecords(file: string, separator: FieldSeparator, fields: TextFields): AsyncGenerator<TextRecord[]> {
  let columns: { text: number; pair: number; label: number; count: number } | undefined;
  for await (const rows of delimitedRows(file, separator)) {
    const records: TextRecord[] = [];
    for (const { cells, line } of rows) {
      if (!columns) {
        columns = headerColumns(file, cells, fields);
        continue;
      }
      const { text, pair, label, count } = columns;
      const where = `${file} line ${line}`;
      check(cells.length === count, `${where} has ${cells.length} fields but the header has ${count}; fix the line`);
      records.push({ text: cells[text], ...(pair >= 0 && { pair: cells[pair] }), label: labelOf(cells[label], where), line });
    }
    if (records.length > 0) yield records;
  }
}

/** Where the header row puts the text, its pair and the label. */
function headerColumns(file: string, cells: string[], { textField, labelField, textPairField }: TextFields) {
  const column = (field: string, option: string) => {
    const index = cells.indexOf(field);
    check(index >= 0, `${file} has no column '${field}' (its columns: ${cells.join(', ')}); set ${option} to the column of the text`, [
      option,
    ]);
    return index;
  };
  return {
    text: column(textField, 'textField'),
    pair: textPairField === undefined ? -1 : column(textPairField, 'textPairField'),
    // A file without the label column is unlabeled: every row joins the transfer set.
    label: cells.indexOf(labelField),
    count: cells.length,
  };
}
