// The run's ONNX exports of the student (--export onnx, onnx-uint8): refused before training when a layer
// cannot be exported, and after training written into the staged student folder as model.onnx (and
// model-uint8.onnx), then each read back from its file and run on the test rows with onnxruntime-node next
// to the tfjs student.
import type * as tf from '@tensorflow/tfjs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { beyondDrop, pointsText } from '../distill/student-variants.js';
import { DistillError, messageOf } from '../errors.js';
import { type ExportedOnnx, UnsupportedLayerError, exportLayersToOnnx } from '../models/layers-to-onnx.js';
import { checkOnnxAgainstTfjs } from '../models/onnx-check.js';
import { OPSET_VERSION } from '../models/onnx-proto.js';
import { loadOrt } from '../models/onnx-teacher.js';
import type { ExportFormat } from '../options/schema.js';
import type { OnnxExportReport } from '../reports/report.js';

/** The file each ONNX format is written to, inside the student's folder. */
export const ONNX_FILES: Record<ExportFormat, string> = { onnx: 'model.onnx', 'onnx-uint8': 'model-uint8.onnx' };

/** The student exported in `format`, or a one-line error naming the layer that cannot be, in the CLI's terms. */
function exportStudent(student: tf.LayersModel, format: ExportFormat): ExportedOnnx {
  try {
    return exportLayersToOnnx(student, { weights: format === 'onnx-uint8' ? 'uint8' : 'float32' });
  } catch (error) {
    if (!(error instanceof UnsupportedLayerError)) throw error;
    throw new DistillError(
      `--export ${format} cannot export the student: its ${error.message}; use a student whose layers all export ` +
        `(the mlp, cnn, bag, cnn1d and bilstm architectures do), or leave out --export ${format}`,
    );
  }
}

/**
 * Refuses, before any training, a student that an asked-for format cannot hold: the untrained student is
 * exported and the result dropped, so that an unsupported layer is named before hours of training. The
 * check after training needs onnxruntime-node, so it must load too.
 */
export async function checkStudentExports(student: tf.LayersModel, formats: readonly ExportFormat[]): Promise<void> {
  for (const format of new Set(formats)) exportStudent(student, format);
  if (formats.length === 0) return;
  try {
    await loadOrt();
  } catch (error) {
    throw new DistillError(
      `--export ${formats[0]} checks the exported student on onnxruntime-node, which ${messageOf(error).replace(/^.*?, which /, '')}`,
    );
  }
}

/**
 * Writes the trained student in each ONNX format asked for (`studentDir/model.onnx`, `model-uint8.onnx`) and
 * checks each file with onnxruntime-node against the tfjs student on the test rows: the largest logit
 * difference and the top-1 agreement. `folder` is the student folder's name under the output folder, for
 * the report's paths.
 */
export async function writeStudentOnnx(
  studentDir: string,
  folder: string,
  student: tf.LayersModel,
  test: Dataset,
  formats: readonly ExportFormat[],
): Promise<OnnxExportReport[]> {
  const reports: OnnxExportReport[] = [];
  for (const format of new Set(formats)) reports.push(await writeOneFormat(studentDir, folder, student, test, format));
  return reports;
}

/** One format's file, written and checked. */
async function writeOneFormat(
  studentDir: string,
  folder: string,
  student: tf.LayersModel,
  test: Dataset,
  format: ExportFormat,
): Promise<OnnxExportReport> {
  const exported = exportStudent(student, format);
  const file = join(studentDir, ONNX_FILES[format]);
  await writeFile(file, exported.bytes);
  // What is checked is the file as written, read back.
  const bytes = new Uint8Array(await readFile(file));
  const measured = await checkOnnxAgainstTfjs(student, { ...exported, bytes }, test);
  return {
    path: `${folder}/${ONNX_FILES[format]}`,
    format,
    opset: OPSET_VERSION,
    bytes: (await stat(file)).size,
    input: { name: exported.inputName, dtype: 'float32', shape: [null, ...exported.inputShape] },
    output: { name: exported.outputName, dtype: 'float32', shape: [null, ...exported.outputShape] },
    ...measured,
  };
}

/**
 * Warnings for the quantised ONNX exports (onnx-uint8) that lose more than `maxDrop` points of test accuracy
 * against the float32 tfjs student, worded as the quantised tfjs variants' warnings are: a uint8 file is a
 * shipped variant like student/uint8/, and --max-quantize-drop bounds them all.
 */
export function onnxQuantizeWarnings(exports: readonly OnnxExportReport[], maxDrop: number): string[] {
  return exports
    .filter((exported) => exported.format === 'onnx-uint8')
    .map((exported) => ({ path: exported.path, drop: (exported.tfjsAccuracy - exported.accuracy) * 100 }))
    .filter(({ drop }) => beyondDrop(drop, maxDrop))
    .map(
      ({ path, drop }) => `${path} loses ${pointsText(drop)} of test accuracy against float32, more than --max-quantize-drop ${maxDrop}`,
    );
}
