// The student's quantised variants (--quantize). Each variant is written into the staging student folder
// (student/uint8/ beside the float32 model.json), read back from its files, loaded by stock tfjs the way a
// web page loads it, and measured on the test rows against the float32 student, all before the folder is
// moved into place: a variant only ever reaches --out whole, together with the report that measured it.
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { DistillError } from '../errors.js';
import { readModelData, saveModel } from '../models/model-files.js';
import { QUANTIZATION_DTYPES, type QuantizationDtype, quantizeModelData } from '../models/quantize.js';
import { measureFloat32, measureVariant } from '../models/variant-check.js';
import type { QuantizeChoice } from '../options/schema.js';
import type { ArtifactReport, QuantizationReport } from '../reports/report.js';
import { STUDENT_FILES, variantSubfolder } from '../student-layout.js';

/** The float32 student's folder under the run's output folder. */
export const STUDENT_FOLDER = 'student';

/**
 * Where runs before the self-contained student folder wrote the variants: beside the student, as
 * `student-uint8/`. A run removes these from --out, since they were made from another student.
 */
export const LEGACY_VARIANT_FOLDERS: readonly string[] = QUANTIZATION_DTYPES.map((format) => `${STUDENT_FOLDER}-${format}`);

/** Accuracy drops are differences of row fractions times 100, so a drop of exactly the limit may come out a hair above. */
const DROP_TOLERANCE = 1e-9;

/** True when a variant lost more than `maxDrop` points. */
export const beyondDrop = (drop: number, maxDrop: number) => drop > maxDrop + DROP_TOLERANCE;

export const pointsText = (value: number) => `${value.toFixed(2)} point${value.toFixed(2) === '1.00' ? '' : 's'}`;

/** Bytes of a saved model's files, model.json and weights.bin (the folder's other files are not the model's). */
async function modelBytes(dir: string): Promise<number> {
  const sizes = await Promise.all([STUDENT_FILES.model, STUDENT_FILES.weights].map(async (name) => (await stat(join(dir, name))).size));
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
 * Writes the `requested` variants of the float32 student saved in the student folder `dir` as `dir/FORMAT/`,
 * and measures each, and the float32 student, on `test` with stock tfjs. With `auto`, only the smallest
 * variant within `maxDrop` points is kept. A variant whose format cannot hold the weights (float16 past
 * ±65504) is not written, and a warning says why; any other failure (a file that cannot be written) throws.
 * The report's paths start with `name`, the folder's name where it will be read (`student`, `student/uint8`).
 */
export async function writeStudentVariants(
  dir: string,
  test: Dataset,
  requested: readonly QuantizeChoice[],
  maxDrop: number,
  name = STUDENT_FOLDER,
): Promise<QuantizationReport> {
  const float32Dir = dir;
  const float32 = await readModelData(float32Dir);
  // Measured once: every variant is compared with these predictions.
  const reference = await measureFloat32(float32Dir, test);
  const artifacts: ArtifactReport[] = [
    {
      path: name,
      format: 'float32',
      bytes: await modelBytes(float32Dir),
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
    const folder = join(dir, variantSubfolder(format));
    await saveModel(data, folder);
    const m = await measureVariant(reference, folder, test);
    measured.push({
      path: `${name}/${variantSubfolder(format)}`,
      format,
      bytes: await modelBytes(folder),
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
  for (const variant of measured) {
    if (variant.format !== chosen)
      await rm(join(dir, variantSubfolder(variant.format as QuantizationDtype)), { recursive: true, force: true });
  }
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
