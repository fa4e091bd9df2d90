// The run's ONNX export of the student (--export onnx): refused before training when a layer cannot be
// exported, and after training written into the staged student folder as model.onnx, then read back from
// its file and run on the test rows with onnxruntime-node next to the tfjs student.
import type * as tf from '@tensorflow/tfjs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { DistillError } from '../errors.js';
import { type ExportedOnnx, UnsupportedLayerError, exportLayersToOnnx } from '../models/layers-to-onnx.js';
import { checkOnnxAgainstTfjs } from '../models/onnx-check.js';
import { OPSET_VERSION } from '../models/onnx-proto.js';
import type { ExportFormat } from '../options/schema.js';
import type { OnnxExportReport } from '../reports/report.js';

/** The file the ONNX export is written to, inside the student's folder. */
export const ONNX_FILE = 'model.onnx';

/** The student exported, or a one-line error naming the layer that cannot be, in the CLI's terms. */
function exportStudent(student: tf.LayersModel): ExportedOnnx {
  try {
    return exportLayersToOnnx(student);
  } catch (error) {
    if (!(error instanceof UnsupportedLayerError)) throw error;
    throw new DistillError(
      `--export onnx cannot export the student: its ${error.message}; use a student whose layers all export ` +
        '(the mlp, cnn, bag, cnn1d and bilstm architectures do), or leave out --export onnx',
    );
  }
}

/**
 * Refuses, before any training, a student that an asked-for format cannot hold: the untrained student is
 * exported and the result dropped, so that an unsupported layer is named before hours of training.
 */
export function checkStudentExports(student: tf.LayersModel, formats: readonly ExportFormat[]): void {
  if (formats.includes('onnx')) exportStudent(student);
}

/**
 * Writes the trained student as `studentDir/model.onnx` and checks that file with onnxruntime-node against
 * the tfjs student on the test rows: the largest logit difference and the top-1 agreement.
 * `folder` is the student folder's name under the output folder, for the report's path.
 */
export async function writeStudentOnnx(
  studentDir: string,
  folder: string,
  student: tf.LayersModel,
  test: Dataset,
): Promise<OnnxExportReport> {
  const exported = exportStudent(student);
  const file = join(studentDir, ONNX_FILE);
  await writeFile(file, exported.bytes);
  // What is checked is the file as written, read back.
  const bytes = new Uint8Array(await readFile(file));
  const measured = await checkOnnxAgainstTfjs(student, { ...exported, bytes }, test);
  return {
    path: `${folder}/${ONNX_FILE}`,
    format: 'onnx',
    opset: OPSET_VERSION,
    bytes: (await stat(file)).size,
    input: { name: exported.inputName, dtype: 'float32', shape: [null, ...exported.inputShape] },
    output: { name: exported.outputName, dtype: 'float32', shape: [null, ...exported.outputShape] },
    ...measured,
  };
}
