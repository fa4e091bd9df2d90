import type { Dataset } from '../data/dataset.js';
import { LogitTable } from '../data/logit-table.js';
import type { SharedDataset } from '../data/shared-dataset.js';
import {
  type SoftLabelEncoding,
  applyEncoding,
  bytesPerRow,
  describeEncoding,
  readSoftLabels,
  writeSoftLabels,
} from '../data/soft-label-store.js';
import { readNpyFloat32Matrix } from '../data/npy.js';
import { check } from '../errors.js';
import type { WorkerPool } from '../parallel/pool.js';
import { softLabelKey } from '../teachers/fingerprint.js';
import type { InferenceModel } from '../infer/predictor.js';
import { computeLogits } from '../infer/logits.js';
import type { ProgressEvent } from '../progress.js';
import type { SoftLabelReport } from '../reports/report.js';

export interface SoftLabelsSpec {
  teacher: InferenceModel;
  /** The teacher's identity in the store's key (see teacherDigest). */
  teacherDigest: string;
  /** The training rows as given (hashed for the store's key) and as shared with the workers. */
  data: Dataset;
  shared: SharedDataset;
  encoding: SoftLabelEncoding;
  /** The store file to reuse or fill; none: label in memory only. */
  file?: string;
  onProgress: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface SoftLabels {
  table: LogitTable;
  /** Seconds the teacher's labelling took (in an earlier run, when reused). */
  labelSeconds: number;
  /** Seconds spent loading the teacher into the workers. */
  setupSeconds: number;
  report: SoftLabelReport;
  /** Set when a store file existed but could not be used. */
  notice?: string;
}

/**
 * The soft labels of a run: read from the store file when it was made by the same teacher from the same
 * data with the same encoding, otherwise computed by the teacher in the pool (and written to the file).
 * Either way the student learns from exactly what the file holds, top-k included.
 */
export async function obtainSoftLabels(pool: WorkerPool, spec: SoftLabelsSpec): Promise<SoftLabels> {
  const started = performance.now();
  const { shared, encoding, file } = spec;
  const key = softLabelKey(spec.teacherDigest, spec.data);
  const report = (reused: boolean, fileBytes: number | null): SoftLabelReport => ({
    file: file ?? null,
    reused,
    importedFrom: null,
    encoding: describeEncoding(encoding),
    bytesPerRow: bytesPerRow(encoding, shared.numClasses),
    fileBytes,
    seconds: (performance.now() - started) / 1000,
  });
  let notice: string | undefined;
  if (file) {
    const table = LogitTable.create(shared.rows, shared.numClasses);
    const read = await readSoftLabels(file, table, key, encoding);
    if (read.ok) return { table, labelSeconds: read.labelSeconds, setupSeconds: 0, report: report(true, read.fileBytes) };
    if (read.reason !== 'absent') notice = `soft labels in ${file} not reused (${read.reason}); labelled again and rewrote the file`;
  }
  const run = await computeLogits(pool, spec.teacher, shared, { phase: 'label', onProgress: spec.onProgress, signal: spec.signal });
  check(run.table.allFinite(), 'the teacher produced non-finite logits (NaN or Infinity); check the teacher model and the data');
  const fileBytes = file ? await writeSoftLabels(file, run.table, { key, encoding, labelSeconds: run.seconds }) : null;
  applyEncoding(run.table, encoding);
  return { table: run.table, labelSeconds: run.seconds, setupSeconds: run.setupSeconds, report: report(false, fileBytes), notice };
}

/**
 * Soft labels computed elsewhere (a notebook, another framework): a NumPy array of logits, one row per
 * training row in order. They replace teacher inference; top-k keeps what the encoding would keep.
 */
export async function importSoftLabels(file: string, shared: SharedDataset, encoding: SoftLabelEncoding): Promise<SoftLabels> {
  const started = performance.now();
  const matrix = await readNpyFloat32Matrix(file, { rows: shared.rows, columns: shared.numClasses });
  const table = LogitTable.create(shared.rows, shared.numClasses);
  table.values.set(matrix.data);
  applyEncoding(table, encoding);
  const report: SoftLabelReport = {
    file: null,
    reused: false,
    importedFrom: file,
    encoding: describeEncoding(encoding),
    bytesPerRow: bytesPerRow(encoding, shared.numClasses),
    fileBytes: null,
    seconds: (performance.now() - started) / 1000,
  };
  return { table, labelSeconds: 0, setupSeconds: 0, report };
}
