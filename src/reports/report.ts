import type { BackendName, KernelsUsed } from '../kernels/backend.js';
import type { ClassificationScores } from '../infer/class-scores.js';
import type { ModelReport } from '../infer/evaluate.js';
import type { StepBreakdown } from '../train/data-parallel.js';
import type { SelectionMetric } from '../train/replica.js';
import type { DistillConfig } from '../options/options.js';
import type { ExportFormat, QuantizeChoice } from '../options/schema.js';
import type { QuantizationDtype } from '../models/quantize.js';
import type { LatencyMeasurement } from '../models/latency.js';
import type { InputContract } from '../data/input-contract.js';
import type { HistoryRecord, Phase, TrainingPhase } from '../progress.js';

/**
 * A student's report: also how often it predicts the teacher's top-1 class on the test split (null when
 * the teacher was not evaluated: imported logits without test logits).
 */
export interface StudentReport extends ModelReport {
  agreement: number | null;
}

/** The hard-label baseline: the student architecture trained without the teacher. */
export interface BaselineReport extends ClassificationScores {
  accuracy: number;
  agreement: number | null;
}

/**
 * The teacher's column: a model the run evaluated, or, when its logits were imported (teacherLogits), the
 * accuracy of its imported test logits (teacherTestLogits) alone.
 */
export type TeacherReport = (ModelReport & { ensemble?: EnsembleReport }) | ({ accuracy: number; imported: true } & ClassificationScores);

/**
 * The teacher's top-1 accuracy on the training rows whose labels are known, measured from its soft labels
 * between labelling and distillation; a teacher near chance stops the run unless allowWeakTeacher.
 */
export interface TeacherCheckReport {
  /** On every labelled training row (validation rows included). */
  trainAccuracy: number;
  /** How many rows that is. */
  rows: number;
  /** The larger of 1 / classes and the most common class's share of those rows. */
  chance: number;
  /** Below this accuracy the teacher counts as near chance: chance plus a tenth of the way to 100%. */
  threshold: number;
  nearChance: boolean;
  /** On the validation rows alone, when the run holds some out (the baseline's warning compares it). */
  validationAccuracy?: number;
}

/** An ensemble teacher: how it combined its members, and each member alone on the test rows, in order. */
export interface EnsembleReport {
  combine: 'logits' | 'probabilities';
  members: TeacherMemberReport[];
}

/** One member of an ensemble teacher on the test rows. */
export interface TeacherMemberReport {
  /** Its path (or its place in the list, for a model in memory). */
  name: string;
  accuracy: number;
  /** How often its top-1 class is the ensemble's. */
  agreement: number;
}

/** One training phase's own work and wall time (pool start and model loading excluded). */
export interface TrainingPhaseReport {
  phase: TrainingPhase;
  /** The ranks (worker threads) the phase trained on (see trainWorkers). */
  workers: number;
  /** When the phase continued from a checkpoint trained on another rank count: that count. */
  checkpointWorkers?: number;
  /**
   * When the phase's checkpoint showed it finished on another rank count (`workers`), so that it was not
   * trained again: the ranks this run would have trained it on.
   */
  runWorkers?: number;
  steps: number;
  samples: number;
  seconds: number;
  samplesPerSec: number;
  finalLoss: number;
  /** Steps whose averaged gradient was not finite and that were skipped (`onNonFinite: 'skip'`). */
  skippedSteps: number;
  /**
   * Where a step's time went in this run, milliseconds per step averaged over the workers, leaving out
   * the run's first step (it pays one-off costs: first touches of fresh shared buffers, heap growth);
   * absent when the run took fewer than 2 steps of the phase. It tells whether more workers would help:
   * the gradient shrinks with each worker's rows, the rest does not.
   */
  stepMs?: StepBreakdown;
  /** With a validation split: which epoch the phase kept, by which metric, and whether it stopped early. */
  selection?: SelectionReport;
}

/** How a phase chose its weights on the validation split. */
export interface SelectionReport {
  metric: SelectionMetric;
  /** The epoch with the best validation metric, and that metric. */
  bestEpoch: number;
  bestValue: number;
  /** The epoch whose weights the phase ended with: the best one, or the last (`keep`). */
  keptEpoch: number;
  /** Epochs the phase ran; fewer than planned when early stopping ended it. */
  epochs: number;
  stoppedEarly: boolean;
}

/** Where the soft labels came from and what they cost to keep. */
export interface SoftLabelReport {
  /** The soft-label store file (the user's, or the run's checkpoint copy); null when kept in memory only. */
  file: string | null;
  /** True when the file was reused and the teacher did not label the rows in this run. */
  reused: boolean;
  /** The NumPy file the logits were imported from (teacherLogits) instead of labelling; null otherwise. */
  importedFrom: string | null;
  /** "full float32 logits" or "top-k at temperature T". */
  encoding: string;
  bytesPerRow: number;
  /** Size of the file, header and checksum included. */
  fileBytes: number | null;
  /** Wall time of this run's labelling stage: labelling and writing, or reading the file. */
  seconds: number;
}

/** A pool restart after a worker failed. */
export interface RestartReport {
  /** The phase that was running. */
  phase: Phase;
  /** Why: the failed worker and its error. */
  reason: string;
}

/**
 * One model folder a CLI run wrote for shipping, the float32 student or a quantised variant of it, as stock
 * tfjs loaded it back from its files and ran it on the test rows.
 */
export interface ArtifactReport {
  /** Its folder, relative to the folder the student folder is in (the run's output folder): `student`, `student/uint8`. */
  path: string;
  /** How its float32 weights are stored. */
  format: 'float32' | QuantizationDtype;
  /** Bytes of its files: model.json and the weights. */
  bytes: number;
  /** Bytes of its weights alone. */
  weightBytes: number;
  /** Top-1 test accuracy, in [0, 1]. */
  accuracy: number;
  /** Fraction of test rows whose top-1 class is the float32 student's (1 for the float32 student). */
  agreement: number;
  /** Test accuracy lost against the float32 student, in percentage points (negative when it gained). */
  accuracyDrop: number;
}

/** The quantised variants a CLI run was asked for (`--quantize`): what it wrote, measured, and what went wrong. */
export interface QuantizationReport {
  /** The formats asked for, or `auto`. */
  requested: QuantizeChoice[];
  /** The drop, in points, past which a variant is warned about (and auto passes it over). */
  maxQuantizeDrop: number;
  /** The float32 student first, then each variant written. */
  artifacts: ArtifactReport[];
  /**
   * With `auto`: every variant measured (each was written to the staging folder, and only the chosen one
   * kept), and the chosen one: the smallest within maxQuantizeDrop, or null when none was.
   */
  auto?: { chosen: QuantizationDtype | null; candidates: Omit<ArtifactReport, 'path'>[] };
  /** One line each: a variant that lost more than maxQuantizeDrop points, one that could not be made, auto choosing none. */
  warnings: string[];
}

/** The self-contained student folder (writeStudentFolder): what it holds and how fast its student predicts. */
export interface StudentFolderReport {
  /** Its name where it is read: `student` in the run's output folder. */
  path: string;
  /** Every file in it, relative to it (`uint8/model.json`), with its bytes, in name order. */
  files: { path: string; bytes: number }[];
  /** The kind of its input contract (preprocessing.json). */
  input: InputContract['kind'];
  /**
   * The float32 student loaded from its files with stock tfjs and timed on the test rows, batch 1 and 256,
   * on one thread of the backend named (stock kernels, as a user runs it; the student's own latency fields
   * are per sample, on a worker with the run's kernels).
   */
  latency: LatencyMeasurement;
}

/** The student exported to ONNX (`--export onnx`): where, what it takes, and how it did against tfjs. */
export interface OnnxExportReport {
  /** The file, relative to the run's output folder: student/model.onnx, student/model-uint8.onnx. */
  path: string;
  /** `onnx`, or `onnx-uint8`: its kernels and embedding tables stored as uint8 (DequantizeLinear). */
  format: ExportFormat;
  opset: number;
  /** Bytes of the file. */
  bytes: number;
  /** The graph's input and output: names, element types and shapes (null: the batch dimension). */
  input: { name: string; dtype: 'float32'; shape: (number | null)[] };
  output: { name: string; dtype: 'float32'; shape: (number | null)[] };
  /** Test rows the file was run on with onnxruntime-node, next to the tfjs student. */
  rows: number;
  /** The largest absolute difference between its logits and tfjs's, over every test row and class. */
  maxAbsLogitDiff: number;
  /** Fraction of test rows whose top-1 class is the (float32) tfjs student's. */
  agreement: number;
  /** Its top-1 test accuracy, in [0, 1]. */
  accuracy: number;
  /** The tfjs student's top-1 test accuracy on the same rows. */
  tfjsAccuracy: number;
}

/** Everything a run measured. `report.json` is this object. */
export interface DistillReport {
  /** The tfjs backend the workers actually ran. */
  backend: BackendName;
  /**
   * The matMul and conv kernels that ran: on wasm, `openblas` (tfjs-distill's native addon) or `wasm` (the
   * backend's own); on other backends, the backend's name.
   */
  kernels: KernelsUsed;
  /** Worker threads in the pool (labelling and evaluation run on every one). */
  workers: number;
  /** The ranks the student's training phases ran on, the pool's first ones (what trainWorkers resolved to). */
  trainWorkers: number;
  /**
   * What ran the teacher's inference (its labelling, unless the soft labels were reused, and its test
   * evaluation): tfjs, or onnxruntime-node (an ONNX teacher, or a layers teacher exported by teacherRuntime).
   * Null without a teacher model (imported logits).
   */
  teacherRuntime: 'tfjs' | 'onnxruntime' | null;
  /** OpenBLAS threads per worker (what threadsPerWorker resolved to; only the openblas kernels use them). */
  threadsPerWorker: number;
  /** Kernels added to the backend, backends that failed to load, and similar facts worth knowing. */
  notices: string[];
  /**
   * What may have gone wrong with the models: a teacher distilled near chance (allowWeakTeacher), a teacher
   * well below the baseline. Empty when none.
   */
  warnings: string[];
  /** The teacher checked on the labelled training rows; absent when no training row is labelled. */
  teacherCheck?: TeacherCheckReport;
  /** Null when the teacher was not evaluated: logits imported without test logits. */
  teacher: TeacherReport | null;
  student: StudentReport;
  /** Present when the baseline was requested. */
  baseline?: BaselineReport;
  throughput: {
    /** Teacher inference over the training rows, rows per second; null when the logits were imported. */
    labelSamplesPerSec: number | null;
    /** Student distillation, training rows per second. */
    trainSamplesPerSec: number;
    /** Teacher training, when the run trained the teacher. */
    teacherTrainSamplesPerSec?: number;
    /** Baseline training, when requested. */
    baselineTrainSamplesPerSec?: number;
    /**
     * Starting the pool, loading the backend and loading the models this run evaluated into the workers. A
     * sweep's trial that reused the teacher's test measurement (see MeasureOnce) did not load the teacher for
     * it, and a trial on a kept pool did not start it: its setup is shorter than a lone run's.
     */
    setupSeconds: number;
  };
  phases: TrainingPhaseReport[];
  /** Every epoch of every phase (training loss, learning rate, validation metrics), then the test evaluations; also metrics.jsonl. */
  history: HistoryRecord[];
  softLabels: SoftLabelReport;
  /** Pool restarts after worker failures, in order (empty when none failed). */
  restarts: RestartReport[];
  /** What a resumed run took from its checkpoint, e.g. ["teacher", "label", "student from step 120"]; empty otherwise. */
  resumed: string[];
  data: {
    trainRows: number;
    /** Rows whose hard labels the student and the baseline saw. */
    labeledRows: number;
    /** Rows whose labels the teacher trained on, when the run trained it. */
    teacherLabeledRows?: number;
    testRows: number;
    featureShape: number[];
    numClasses: number;
    /** The class names in index order, when the data names them (an image folder). */
    classes?: string[];
  };
  /** The CLI's quantised variants of the student, when `--quantize` asked for any. */
  quantization?: QuantizationReport;
  /** The student folder the CLI wrote (or writeStudentFolder, when given the report). */
  studentFolder?: StudentFolderReport;
  /** The CLI's ONNX exports of the student, in the order `--export` asked for them, when it asked for any. */
  onnx?: OnnxExportReport[];
  /** The settings of the run, defaults filled in. */
  config: DistillConfig & Record<string, unknown>;
}
