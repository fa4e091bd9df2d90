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
  /** Something worth telling the user as it happens, e.g. a restart after a worker failure. */
  notice?: string;
}
