// Stage 1 of distill(): the data, once, in shared memory, and the rows each phase trains on; then the models
// and the run's other inputs, checked against the data before anything trains.
import { LogitTable } from '../data/logit-table.js';
import { readNpyFloat32Matrix } from '../data/npy.js';
import { SharedDataset } from '../data/shared-dataset.js';
import { type SoftLabelEncoding, checkEncoding, softLabelEncoding } from '../data/soft-label-store.js';
import { check } from '../errors.js';
import type { RowNormalization } from '../infer/predictor.js';
import { type CheckedModel, modelAsData } from '../models/checked-model.js';
import type { TeacherView } from '../data/data-source.js';
import type { DistillConfig, DistillOptions } from '../options/options.js';
import { mixSeed, seededPermutation } from '../random.js';
import { type TeacherSource, openTeacher, teacherNormalization } from '../teachers/open-teacher.js';
import type { Augmentation } from '../train/augment.js';

/** The rows of a validation split, held out of training. */
export interface HeldOutRows {
  rows: Int32Array;
  set: Set<number>;
}

/** The run's data in shared memory, and the rows each phase trains on (the held-out rows left out). */
export interface RunData {
  train: SharedDataset;
  /** `train` with the labels the student sees: those of the first `labeled` rows only. */
  studentTrain: SharedDataset;
  test: SharedDataset;
  /** The same rows as the teacher reads them (see teacherDatasets): `train` and `test` themselves unless the teacher has a view of its own. */
  teacherTrain: SharedDataset;
  teacherTest: SharedDataset;
  heldOut: HeldOutRows | undefined;
  /** The labelled rows the teacher trains on (it sees every label). */
  teacherRows: Int32Array;
  /** The rows whose labels the student sees. */
  labeledRows: Int32Array;
  /** Every training row: the student learns the soft labels of them all. */
  allRows: Int32Array;
  encoding: SoftLabelEncoding;
}

/** The models and the run's other inputs, checked against the data. */
export interface RunInputs {
  teacher: TeacherSource;
  student: CheckedModel;
  /** The normalisation of the teacher's input rows (teacherNormalize). */
  teacherNormalize: RowNormalization | undefined;
  augment: Augmentation | undefined;
  /** The top-1 classes of test logits computed elsewhere (teacherTestLogits). */
  importedTestPredictions: Int32Array | undefined;
}

/**
 * Puts the training and test data into shared memory, once, and splits off the rows each phase trains on.
 * The student sees the labels of the first `labeled` rows only; the teacher, if trained here, sees them all.
 */
export function shareData(options: DistillOptions, config: DistillConfig): RunData {
  const train = SharedDataset.fromDataset(options.train, 'train');
  const studentTrain = config.labeled === null ? train : train.keepLabels(config.labeled);
  const test = SharedDataset.fromDataset(options.test, 'test');
  checkSplits(train, test, 'train and test data');
  const teacherSees = teacherDatasets(options, config);
  const teacherTrain = teacherSees.train === options.train ? train : SharedDataset.fromDataset(teacherSees.train, 'teacherView train');
  const teacherTest = teacherSees.test === options.test ? test : SharedDataset.fromDataset(teacherSees.test, 'teacherView test');
  if (teacherTrain !== train || teacherTest !== test) {
    checkSplits(teacherTrain, teacherTest, 'teacherView train and test');
    for (const [view, rows, name] of [
      [teacherTrain, train, 'train'],
      [teacherTest, test, 'test'],
    ] as const) {
      check(
        view.rows === rows.rows && view.numClasses === rows.numClasses && view.labels.every((label, row) => label === rows.labels[row]),
        `teacherView ${name} is not the rows of ${name}: it needs the same rows in the same order, with the same labels`,
        ['teacherView'],
      );
    }
  }
  check(test.labeledRows().length === test.rows, 'test data has unlabeled rows (-1); every test row needs a label');
  // A validation split comes out of the rows whose labels the student sees, before anything trains.
  const heldOut = validationRows(studentTrain.labeledRows(), config.validation, config.seed);
  const trainsOn = (rows: Int32Array) => (heldOut ? rows.filter((row) => !heldOut.set.has(row)) : rows);
  const teacherRows = trainsOn(train.labeledRows());
  const labeledRows = trainsOn(studentTrain.labeledRows());
  check(
    teacherRows.length > 0 || config.teacherEpochs === 0,
    'no training row is labelled, but training the teacher needs hard labels; label some rows or give a trained teacher',
  );
  check(
    labeledRows.length > 0 || !config.baseline,
    'no training row keeps its label, but the baseline trains on hard labels alone; label some rows or drop the baseline',
  );
  const encoding = softLabelEncoding(config);
  checkEncoding(encoding, train.numClasses);
  const allRows = trainsOn(Int32Array.from({ length: train.rows }, (_, i) => i));
  return { train, studentTrain, test, teacherTrain, teacherTest, heldOut, teacherRows, labeledRows, allRows, encoding };
}

/**
 * The rows the teacher reads: teacherView's (a table's raw values, as a teacher trained elsewhere was
 * trained), unless the run trains the teacher, which then learns from and reads the student's rows.
 */
export function teacherDatasets(options: DistillOptions, config: DistillConfig): TeacherView {
  return options.teacherView && config.teacherEpochs === 0 ? options.teacherView : { train: options.train, test: options.test };
}

/** Checks that a training and a test split have the same row shape and classes. */
function checkSplits(train: SharedDataset, test: SharedDataset, what: string): void {
  check(
    train.numClasses === test.numClasses && train.featureShape.join() === test.featureShape.join(),
    `${what} differ: rows [${train.featureShape}] with ${train.numClasses} classes vs [${test.featureShape}] with ${test.numClasses}`,
  );
}

/** Opens the teacher and checks the student, the teacher's normalisation, the augmentation and any imported test logits. */
export async function openInputs(options: DistillOptions, config: DistillConfig, data: RunData): Promise<RunInputs> {
  const { train, test, teacherTrain } = data;
  const teacher: TeacherSource =
    options.teacher === undefined ? { kind: 'none' } : await openTeacher(options.teacher, teacherTrain, config);
  const student = await modelAsData(options.student, 'student', train);
  const teacherNormalize = teacherNormalization(config, teacherTrain.featureShape);
  const augment = augmentation(config, train.featureShape);
  // Read now, so that a bad file stops the run before any training.
  const importedTestPredictions = config.teacherTestLogits === null ? undefined : await importedPredictions(config.teacherTestLogits, test);
  return { teacher, student, teacherNormalize, augment, importedTestPredictions };
}

/** The held-out rows of a validation split (`validation`: a count or a fraction of `labelled`), seeded. */
export function validationRows(labelled: Int32Array, validation: number | null, seed: number): HeldOutRows | undefined {
  if (validation === null) return undefined;
  const count = validation < 1 ? Math.round(validation * labelled.length) : validation;
  check(
    count >= 1 && count < labelled.length,
    `validation ${validation} leaves ${count} of the ${labelled.length} labelled rows for validation; ` +
      'it needs at least 1 and fewer than all',
    ['validation'],
  );
  const order = seededPermutation(labelled.length, mixSeed(seed, 3));
  const rows = Int32Array.from(order.subarray(0, count), (i) => labelled[i]).sort();
  return { rows, set: new Set(rows) };
}

/** The augmentation of image rows, or undefined when none is asked for (an error for rows that are not images). */
function augmentation(config: DistillConfig, featureShape: number[]): Augmentation | undefined {
  const given = config.augment;
  check(
    !given?.mask && !given?.ngram,
    'augment mask and ngram make copies of text rows as text:FILE is loaded: give them to loadDataSource (its augment), ' +
      'not to distill, which takes the rows made',
    ['augment'],
  );
  if (!given || (!given.shift && !given.flip)) return undefined;
  check(
    featureShape.length === 2 || featureShape.length === 3,
    `augment shifts and flips images, but the rows have shape [${featureShape}]; drop augment for feature rows`,
    ['augment'],
  );
  return { shift: given.shift ?? 0, flip: given.flip ?? false };
}

/** The top-1 classes of test logits computed elsewhere (teacherTestLogits). */
async function importedPredictions(file: string, test: SharedDataset): Promise<Int32Array> {
  const matrix = await readNpyFloat32Matrix(file, { rows: test.rows, columns: test.numClasses });
  const table = LogitTable.create(test.rows, test.numClasses);
  table.values.set(matrix.data);
  return table.argmax();
}
