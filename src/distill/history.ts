import type { TrainingPhase } from '../progress.js';
import type { StepBreakdown } from '../train/data-parallel.js';

/** Validation metrics of a model after an epoch: on the held-out labelled rows (`validation`). */
export interface ValidationMetrics {
  /** Mean cross-entropy against the hard labels. */
  loss: number;
  /** Top-1 accuracy, in [0, 1]. */
  accuracy: number;
  /** Top-1 agreement with the teacher (absent for the teacher itself). */
  agreement?: number;
}

/** One line of `metrics.jsonl`: the state of a training phase at the end of an epoch. */
export interface EpochRecord {
  kind: 'epoch';
  phase: TrainingPhase;
  /** 1-based. */
  epoch: number;
  /** Optimizer steps done by the end of the epoch. */
  step: number;
  /** Mean training loss over the epoch's steps. */
  trainLoss: number;
  /** The learning rate of the epoch's last step. */
  learningRate: number;
  samplesPerSec: number;
  /** Where the epoch's steps went, ms per step (absent for an epoch of fewer than 2 steps). */
  stepMs?: StepBreakdown;
  /** Present when the run holds out a validation split. */
  validation?: ValidationMetrics;
}

/** One line of `metrics.jsonl`: a model evaluated on the test split at the end of the run. */
export interface EvaluationRecord {
  kind: 'evaluation';
  model: 'teacher' | 'student' | 'baseline';
  accuracy: number;
  agreement?: number;
}

/** What `metrics.jsonl` holds, one record a line, in the order they happened; `report.json` keeps them as `history`. */
export type HistoryRecord = EpochRecord | EvaluationRecord;
