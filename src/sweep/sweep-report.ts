/**
 * What `tfjs-distill sweep` writes to OUT/sweep.json and what `sweepHtml` draws: every trial of the grid in
 * order, each architecture's hard-label baseline, the teacher as the reference, and the trial chosen on
 * validation accuracy (never on test accuracy).
 */

/** The version of sweep.json this code writes. */
export const SWEEP_REPORT_VERSION = 1;

/** What a trained student measured; trials and baselines share it. */
export interface SweepModelResult {
  /** The student architecture (`mlp:32`) or model path. */
  student: string;
  /** Top-1 accuracy in [0, 1] on the sweep's validation rows: what the choice is made on. */
  validationAccuracy: number;
  /** Top-1 accuracy in [0, 1] on the test rows: reported, never used to choose. */
  testAccuracy: number;
  /** Fraction of test rows whose top-1 class is the teacher's (null for a baseline without a teacher). */
  agreement: number | null;
  params: number;
  /** Bytes of its float32 weights. */
  bytes: number;
  /** Milliseconds to predict one row, batch 1, as the run measures it. */
  latencyMsBatch1: number;
  /** Its output folder relative to OUT (holds its usual report.json and student/). */
  folder: string;
  /** Seconds it took to train. */
  seconds: number;
}

/** One point of the grid, distilled. */
export interface SweepTrial extends SweepModelResult {
  /** Its position in `trials`, from 0. */
  index: number;
  /** The option values this trial set, by option key (`temperature`, `alpha`, `student`, `loss`, ...). */
  settings: Record<string, unknown>;
  /** The index in `baselines` of its architecture's hard-label baseline (same budget and seed). */
  baseline: number;
}

/** An architecture's hard-label baseline: the same student, budget and seed, trained on the labels alone. */
export type SweepBaseline = SweepModelResult;

/**
 * What `schedule auto` measured before the trials: the largest student trained for a few steps (after one
 * warm-up step, not timed) on one worker and on every worker, without evaluation, in rounds: one that warms
 * the threads, then the rounds timed.
 */
export interface ScheduleMeasurement {
  /** The student measured (the largest of the trials). */
  student: string;
  /** Steps timed on each pool in each timed round, after its warm-up step. */
  steps: number;
  /** Rounds of both arrangements timed, after one round that warmed the threads; each arrangement's best round counts. */
  rounds: number;
  /** Steps in one epoch of that student's trial, for scale: the measurement trains fewer. */
  stepsPerEpoch: number;
  /**
   * Training samples per second over the timed steps, in the best timed round of each: of one single-worker
   * trial among `workers` side by side (their mean), and of one trial on all `workers` workers.
   */
  samplesPerSec: { oneWorker: number; allWorkers: number };
  /** The ranks the trial on all `workers` workers trained on: its pool's first, as trainWorkers gives them. */
  trainWorkers: number;
  /** Wall seconds the measurement took, the pools' starts included. */
  seconds: number;
}

/** The sweep, as OUT/sweep.json holds it. */
export interface SweepReport {
  format: 'tfjs-distill/sweep';
  version: number;
  /** The grid as given: option key to the values tried. */
  grid: Record<string, unknown[]>;
  /** How many points the grid has, and how many were sampled (`--trials`) as trials. */
  gridPoints: number;
  trials: SweepTrial[];
  baselines: SweepBaseline[];
  /** The index in `trials` of the trial chosen on validation accuracy; its student is OUT/best/student/. */
  best: number | null;
  /** The teacher, as the reference line. */
  teacher: { spec: string; testAccuracy: number; validationAccuracy: number; params: number | null; bytes: number | null };
  /**
   * How the trials used the machine: several at once, one per worker, or one at a time data-parallel, and why;
   * `queue`: a job each on a BullMQ queue, `workers` being the workers each trial trained on.
   */
  schedule: { mode: 'concurrent' | 'data-parallel' | 'queue'; workers: number; reason: string; measured?: ScheduleMeasurement };
  /** Rows in each split: the validation rows are held out of the training rows. */
  rows: { train: number; labeled: number; validation: number; test: number };
  /** The teacher labelled once into this soft-label store, which every trial read. */
  labelling: { storeFile: string | null; seconds: number };
  /** One-line findings, such as the best distilled trial not beating its baseline on validation. */
  notices: string[];
}
