/** The phases of a run, in order. */
export type Phase = 'setup' | 'teacher' | 'label' | 'student' | 'baseline' | 'evaluate';

/** The phases that train a model with the data-parallel trainer. */
export type TrainingPhase = Extract<Phase, 'teacher' | 'student' | 'baseline'>;

/** A progress report, streamed while a run goes on. */
export interface ProgressEvent {
  phase: Phase;
  /** Work done so far in this phase: optimizer steps when training, rows when labelling or evaluating. */
  done: number;
  /** The phase's total work, in the same unit. */
  total: number;
  /** 1-based epoch and the number of epochs, when training. */
  epoch?: number;
  epochs?: number;
  /** True on the report of an epoch's last step, when training. */
  epochEnd?: boolean;
  /** The rows the phase trains on (a pass over them is an epoch), when training. */
  rows?: number;
  /** Mean training loss since the previous report. */
  loss?: number;
  /** Rows processed per second since the phase began. */
  samplesPerSec: number;
  /** At the end of a training epoch: the epoch's record for the run's history (metrics.jsonl). */
  record?: EpochRecord;
  /** Something worth telling the user as it happens, e.g. a restart after a worker failure. */
  notice?: string;
  /** While the phase cannot go on: what it waits for (e.g. an unreachable queue), shown on the progress line. */
  waitingFor?: string;
}

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
