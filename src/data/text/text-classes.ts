import { check } from '../../errors.js';
import type { LabelValue, TokenisedFile } from './tokenised-file.js';

/** A file's labels as written (each distinct label once) and each row's code among them (-1: unlabeled). */
export type LabelledFile = Pick<TokenisedFile, 'file' | 'labels' | 'labelCodes'>;

/** The class order of a text or table run, and what each file's label codes are as class indices. */
export interface TextClasses {
  /** The class names in output order; undefined when the labels are indices and no names were given. */
  readonly classes: string[] | undefined;
  readonly numClasses: number;
  /** Says the order when it was read from the labels rather than given. */
  readonly notice?: string;
  /** The teacher file that fixed the order, when one did. */
  readonly fromTeacher?: string;
}

/** A label written as a class index: a JSON number, or digits in a CSV/TSV cell or a JSON string. */
const indexOfLabel = (value: string | number): number | undefined =>
  typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : undefined;

const listed = (names: readonly string[]) => names.join(', ');

/**
 * The class order: `given` (classes) when there is one, in which a label is a class name or an index;
 * else the sorted class names the labels hold (with a notice naming the order), or, when every label is an
 * index, as many classes as the largest index needs. Classes from a teacher file (`fromTeacher`) take a label that is an index
 * only when none of them is written as one (int64 class labels are names, matched as written), and a label
 * that is not among them is an error naming the teacher.
 */
export function textClasses(
  files: readonly LabelledFile[],
  given: readonly string[] | undefined,
  labelField: string,
  fromTeacher?: string,
): TextClasses {
  const labels = files.flatMap((file) => file.labels.map((label) => ({ ...label, file: file.file })));
  if (given !== undefined) {
    for (const { value, line, file } of labels) classIndex(value, given, `${file} line ${line}`, fromTeacher);
    return { classes: [...given], numClasses: given.length, ...(fromTeacher && { fromTeacher }) };
  }
  check(
    labels.length > 0,
    `no row of ${files.map((file) => file.file).join(' or ')} has a label in the field '${labelField}'; ` +
      'set labelField to the field of the labels, or give classes',
    ['labelField', 'classes'],
  );
  const names = labels.filter(({ value }) => indexOfLabel(value) === undefined);
  const indices = labels.filter(({ value }) => indexOfLabel(value) !== undefined);
  if (names.length > 0) {
    check(
      indices.length === 0,
      () =>
        `${indices[0].file} line ${indices[0].line} labels a row with the index ${indices[0].value} and line ${names[0].line} ` +
        `with the class name '${names[0].value}'; give classes to say which class each index is`,
      ['classes'],
    );
    const classes = [...new Set(names.map(({ value }) => value as string))].sort();
    check(classes.length >= 2, `every label is '${classes[0]}', but a classifier needs two or more; give classes to name them all`, [
      'classes',
    ]);
    return {
      classes,
      numClasses: classes.length,
      notice: `class order from the sorted labels: ${listed(classes)} (classes sets another)`,
    };
  }
  const numClasses = Math.max(...indices.map(({ value }) => indexOfLabel(value)!)) + 1;
  check(numClasses >= 2, 'every label is the class index 0, but a classifier needs two or more; give classes to name them all', [
    'classes',
  ]);
  return { classes: undefined, numClasses };
}

/** A label's class index among `classes`: its name there, else the index it is (see textClasses for `fromTeacher`). */
function classIndex(value: string | number, classes: readonly string[], where: string, fromTeacher?: string): number {
  const named = typeof value === 'string' || fromTeacher ? classes.indexOf(String(value)) : -1;
  const indexAllowed = !fromTeacher || !classes.some((name) => indexOfLabel(name) !== undefined);
  const index = named >= 0 ? named : indexAllowed ? indexOfLabel(value) : undefined;
  check(
    index !== undefined && index < classes.length,
    () =>
      fromTeacher
        ? `${where}: the label ${JSON.stringify(value)} is not one of the classes of ${fromTeacher} (${listed(classes)}); ` +
          'relabel the row, or give a teacher trained on that class'
        : `${where}: the label ${JSON.stringify(value)} is not one of classes (${listed(classes)}); add it there or fix the line`,
    [fromTeacher ? 'teacher' : 'classes'],
  );
  return index;
}

/** The rows' class indices (-1: unlabeled), by the class order. */
export function classLabels(file: LabelledFile, order: TextClasses): Int32Array {
  const { classes } = order;
  const indexOf = Int32Array.from(file.labels, ({ value }: LabelValue) =>
    classes === undefined ? indexOfLabel(value)! : classIndex(value, classes, file.file, order.fromTeacher),
  );
  return Int32Array.from(file.labelCodes, (code) => (code < 0 ? -1 : indexOf[code]));
}
