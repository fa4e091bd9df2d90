// A teacher file that names its classes fixes the class order of the data it labels, before the data is read:
// the data's label strings then map onto the teacher's classes, rather than onto their own sorted order.
import { readFile } from 'node:fs/promises';
import { dataSourceReads } from '../data/data-source.js';
import type { DataSourceOptions } from '../data/sources/source-entry.js';
import { check } from '../errors.js';
import { classLabelsOf, readOnnxMlGraph } from '../models/onnx-ml-graph.js';
import { isOnnxMlEstimator } from '../models/onnx-ml-teacher.js';

/**
 * The classes an ONNX-ML classifier file's graph declares (classlabels_strings or classlabels_int64s, in the
 * order of its probabilities), or undefined when `teacher` is not such a file or declares none (a model.json, a network's
 * .onnx, an architecture, a model given in memory). `given` classes, when there are some, must be the same.
 */
export async function teacherClassOrder(teacher: unknown, given?: readonly string[] | null): Promise<string[] | undefined> {
  if (typeof teacher !== 'string' || !teacher.toLowerCase().endsWith('.onnx')) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(teacher);
  } catch {
    // Opening the teacher, later, says why the file cannot be read.
    return undefined;
  }
  if (!isOnnxMlEstimator(bytes)) return undefined;
  // A graph that declares no classes (a regressor) is left to opening the teacher, which refuses it.
  const classes = readOnnxMlGraph(bytes)
    .nodes.map(classLabelsOf)
    .find((labels) => labels !== undefined);
  if (!classes) return undefined;
  check(
    !given || given.join('\n') === classes.join('\n'),
    () =>
      `classes ${given!.join(',')} differ from the class labels of the teacher's graph, ${classes.join(',')} in that order; drop classes`,
    ['classes'],
  );
  return classes;
}

/**
 * The data options with the class order of a teacher file that declares its classes (an ONNX-ML classifier):
 * `classes` set to them, so that the data's labels map onto them (a label the teacher does not know is an
 * error naming it). Unchanged for a source without class names (mnist, idx, npy, images) and a teacher that
 * declares none. Call it before loadDataSource; distill() and label() take the loaded rows.
 */
export async function withTeacherClasses(data: DataSourceOptions, teacher: unknown): Promise<DataSourceOptions> {
  if (!dataSourceReads(data.source, 'classesFromTeacher')) return data;
  const classes = await teacherClassOrder(teacher, data.classes);
  return classes ? { ...data, classes, classesFromTeacher: teacher as string } : data;
}
