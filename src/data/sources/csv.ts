import { check } from '../../errors.js';
import { type Dataset, heldOutTestRows } from '../dataset.js';
import { applyTableContract, tableContract } from '../table/table-contract.js';
import { type TableFile, readTableFile } from '../table/table-file.js';
import { classLabels, textClasses } from '../text/text-classes.js';
import type { DataSourceEntry, DataSourceOptions, DataSplits } from './source-entry.js';

export const csvSource: DataSourceEntry = {
  kind: 'csv',
  usage: 'csv:FILE',
  description:
    'a CSV table (.tsv: tab-separated); with a header row, named columns (labelField, features) that may have missing cells, ' +
    'standardised for the student; without one, the class index first and numeric features after; the test split is testData ' +
    '(csv:FILE) or a seeded share (testFraction)',
  argument: 'path',
  settings: ['testSource', 'testFraction', 'seed', 'labelField', 'features', 'classes', 'classesFromTeacher'],
  load: loadTable,
};

/**
 * Reads the training file (and the test file, when testSource names one) and gives the rows the class order:
 * classes, else the sorted labels of both files (or, for class indices, as many classes as the largest needs).
 * A file with a header row is a table: the teacher view holds its raw values (NaN where missing), and the
 * student's rows are made from them by the table contract, computed from the training rows alone (after
 * limit). A file without one is used as given.
 */
async function loadTable(file: string, options: DataSourceOptions): Promise<DataSplits> {
  const { testSource, testFraction, seed, limit } = options;
  check(testSource === undefined || testSource.startsWith('csv:'), `testData ${testSource}: give csv:FILE`, ['testData']);
  const columns = { labelField: options.labelField, features: options.features };
  const trainFile = await readTableFile(file, columns);
  const testFile = testSource === undefined ? undefined : await readTableFile(testSource.slice('csv:'.length), columns, trainFile);
  if (testFile) {
    check(
      testFile.firstUnlabeledLine === undefined,
      `${testFile.file} line ${testFile.firstUnlabeledLine} has no label, but every test row needs one; label it or leave it out`,
      ['testData'],
    );
  }
  const order = textClasses(
    testFile ? [trainFile, testFile] : [trainFile],
    options.classes,
    trainFile.labelColumn,
    options.classesFromTeacher,
  );
  const trainLabels = classLabels(trainFile, order);
  const heldOut = testFile ? undefined : heldOutTestRows(trainLabels, testFraction, seed);
  const trainRows = rowsWhere(trainFile.rows, (row) => !heldOut || heldOut[row] === 0);
  const raw = {
    train: pickRows(trainFile, trainLabels, trainRows.subarray(0, limit ?? trainRows.length), order.numClasses),
    test: testFile
      ? pickRows(
          testFile,
          classLabels(testFile, order),
          rowsWhere(testFile.rows, () => true),
          order.numClasses,
        )
      : pickRows(
          trainFile,
          trainLabels,
          rowsWhere(trainFile.rows, (row) => heldOut![row] === 1),
          order.numClasses,
        ),
  };
  const labelNotice =
    trainFile.hasHeader && options.labelField === undefined
      ? [`label column '${trainFile.labelColumn}', chosen by its name or as the first (labelField sets another)`]
      : [];
  const named = { ...(order.classes && { classes: order.classes }), notices: [...labelNotice, ...(order.notice ? [order.notice] : [])] };
  if (!trainFile.hasHeader) return { ...raw, ...named };

  const missing = missingCounts(raw.train, trainFile.columns);
  const contract = tableContract(trainFile.columns, raw.train.x, raw.train.shape[0], hasMissing(raw.train) || hasMissing(raw.test));
  const student = (rows: FloatRows): Dataset => {
    const count = rows.shape[0];
    const width = contract.inputShape[0];
    const x = new Float32Array(new SharedArrayBuffer(count * width * Float32Array.BYTES_PER_ELEMENT));
    applyTableContract(contract, rows.x, count, x);
    return { ...rows, x, shape: [count, width] };
  };
  return {
    train: student(raw.train),
    test: student(raw.test),
    teacherView: raw,
    contract,
    ...named,
    notices: [...named.notices, ...(missing ? [`${file}: ${missing}`] : [])],
  };
}

/** Rows of float32 features, as a table's are. */
type FloatRows = Dataset & { x: Float32Array };

const rowsWhere = (rows: number, keep: (row: number) => boolean): Int32Array =>
  Int32Array.from({ length: rows }, (_, row) => row).filter(keep);

/** The rows `rows` of a table file, its labels in class order, as a dataset in shared memory of its own. */
function pickRows(table: TableFile, labels: Int32Array, rows: Int32Array, numClasses: number): FloatRows {
  const width = table.columns.length;
  const x = new Float32Array(new SharedArrayBuffer(rows.length * width * Float32Array.BYTES_PER_ELEMENT));
  rows.forEach((row, i) => x.set(table.x.subarray(row * width, (row + 1) * width), i * width));
  return { x, y: Int32Array.from(rows, (row) => labels[row]), shape: [rows.length, width], numClasses };
}

const hasMissing = (rows: Dataset): boolean => rows.x.some(Number.isNaN);

/** What the report says of the training rows' missing cells, per column, or undefined when there are none. */
function missingCounts(rows: Dataset, columns: readonly string[]): string | undefined {
  const counts = new Array<number>(columns.length).fill(0);
  rows.x.forEach((value, i) => {
    if (Number.isNaN(value)) counts[i % columns.length]++;
  });
  const listed = columns.flatMap((name, column) => (counts[column] > 0 ? [`${name} (${counts[column]})`] : []));
  if (listed.length === 0) return undefined;
  return (
    `training rows with missing cells in ${listed.join(', ')}: a teacher given as a file reads NaN there; ` +
    "the student reads the column's training mean and an is-missing input per column"
  );
}
