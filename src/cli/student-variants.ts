// The run's quantised students (--quantize). Each variant is written into the run's staging folder beside
// the float32 student, read back from its files, loaded by stock tfjs the way a web page loads it, and
// measured on the test rows against the float32 student, all before anything is moved into --out: a
// variant folder only ever reaches --out whole, together with the report that measured it.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { DistillError } from '../errors.js';
import { readModelData, saveModel } from '../models/model-files.js';
import { QUANTIZATION_DTYPES, type QuantizationDtype, quantizeModelData } from '../models/quantize.js';
import { measureFloat32, measureVariant } from '../models/variant-check.js';
import type { QuantizeChoice } from '../options/schema.js';
import type { ArtifactReport, QuantizationReport } from '../reports/report.js';

/** The float32 student's folder under the run's output folder. */
export const STUDENT_FOLDER = 'student';

/** The folder of the student's `format` variant, beside the float32 student. */
export const variantFolder = (format: QuantizationDtype) => `${STUDENT_FOLDER}-${format}`;

/** Every folder a variant can be written to; a run removes them all from --out before writing its own. */
export const VARIANT_FOLDERS: readonly string[] = QUANTIZATION_DTYPES.map(variantFolder);

/** Accuracy drops are differences of row fractions times 100, so a drop of exactly the limit may come out a hair above. */
const DROP_TOLERANCE = 1e-9;

/** True when a variant lost more than `maxDrop` points. */
export const beyondDrop = (drop: number, maxDrop: number) => drop > maxDrop + DROP_TOLERANCE;

export const pointsText = (value: number) => `${value.toFixed(2)} point${value.toFixed(2) === '1.00' ? '' : 's'}`;

/** Bytes of the files in a model folder (model.json and its weights). */
async function folderBytes(dir: string): Promise<number> {
  const sizes = await Promise.all((await readdir(dir)).map(async (name) => (await stat(join(dir, name))).size));
  return sizes.reduce((sum, size) => sum + size, 0);
}

/**
 * The variant `quantize auto` keeps: the one with the fewest weight bytes among those within `maxDrop`,
 * the smaller drop breaking a tie (uint16 and float16 take the same bytes); null when none is within it.
 */
export function chooseAutoVariant(
  candidates: readonly Pick<ArtifactReport, 'format' | 'weightBytes' | 'accuracyDrop'>[],
  maxDrop: number,
): QuantizationDtype | null {
  const within = candidates.filter((c) => c.format !== 'float32' && !beyondDrop(c.accuracyDrop, maxDrop));
  within.sort((a, b) => a.weightBytes - b.weightBytes || a.accuracyDrop - b.accuracyDrop);
  return (within[0]?.format as QuantizationDtype | undefined) ?? null;
}

/** The formats a quantize list asks for, each once; auto: every format, to choose among. */
export function requestedFormats(requested: readonly QuantizeChoice[]): QuantizationDtype[] {
  if (requested.includes('auto')) return [...QUANTIZATION_DTYPES];
  return [...new Set(requested as QuantizationDtype[])];
}

/**
 * Writes the `requested` variants of the float32 student saved in `dir/student` as `dir/student-FORMAT`,
 * and measures each, and the float32 student, on `test` with stock tfjs. With `auto`, only the smallest
 * variant within `maxDrop` points is kept. A variant whose format cannot hold the weights (float16 past
 * ±65504) is not written, and a warning says why; any other failure (a file that cannot be written) throws.
 */
export async function writeStudentVariants(
  dir: string,
  test: Dataset,
  requested: readonly QuantizeChoice[],
  maxDrop: number,
): Promise<QuantizationReport> {
  const float32Dir = join(dir, STUDENT_FOLDER);
  const float32 = await readModelData(float32Dir);
  // Measured once: every variant is compared with these predictions.
  const reference = await measureFloat32(float32Dir, test);
  const artifacts: ArtifactReport[] = [
    {
      path: STUDENT_FOLDER,
      format: 'float32',
      bytes: await folderBytes(float32Dir),
      weightBytes: reference.artifacts.weights.byteLength,
      accuracy: reference.accuracy,
      agreement: 1,
      accuracyDrop: 0,
    },
  ];
  const warnings: string[] = [];
  const measured: ArtifactReport[] = [];
  for (const format of requestedFormats(requested)) {
    let data: ReturnType<typeof quantizeModelData>;
    try {
      data = quantizeModelData(float32, format);
    } catch (error) {
      // The format cannot hold some weight: the other variants are still worth writing.
      if (!(error instanceof DistillError) || !error.options.includes('quantize')) throw error;
      warnings.push(`the ${format} variant was not written: ${error.message}`);
      continue;
    }
    const path = variantFolder(format);
    await saveModel(data, join(dir, path));
    const m = await measureVariant(reference, join(dir, path), test);
    measured.push({
      path,
      format,
      bytes: await folderBytes(join(dir, path)),
      weightBytes: m.weightBytes,
      accuracy: m.accuracy,
      agreement: m.agreement,
      accuracyDrop: m.accuracyDrop,
    });
  }
  const limit = `--max-quantize-drop ${maxDrop}`;
  if (!requested.includes('auto')) {
    for (const variant of measured.filter((v) => beyondDrop(v.accuracyDrop, maxDrop))) {
      warnings.push(`${variant.path} loses ${pointsText(variant.accuracyDrop)} of test accuracy against float32, more than ${limit}`);
    }
    return { requested: [...requested], maxQuantizeDrop: maxDrop, artifacts: [...artifacts, ...measured], warnings };
  }
  const chosen = chooseAutoVariant(measured, maxDrop);
  for (const variant of measured) if (variant.format !== chosen) await rm(join(dir, variant.path), { recursive: true, force: true });
  if (chosen === null) {
    const drops = measured.map((v) => `${v.format} ${pointsText(v.accuracyDrop)}`).join(', ');
    warnings.push(`quantize auto wrote no variant: none stays within ${limit} (lost: ${drops || 'none could be made'})`);
  }
  return {
    requested: [...requested],
    maxQuantizeDrop: maxDrop,
    artifacts: [...artifacts, ...measured.filter((v) => v.format === chosen)],
    auto: {
      chosen,
      candidates: measured.map(({ format, bytes, weightBytes, accuracy, agreement, accuracyDrop }) => ({
        format,
        bytes,
        weightBytes,
        accuracy,
        agreement,
        accuracyDrop,
      })),
    },
    warnings,
  };
}
