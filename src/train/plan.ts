/**
 * A training phase's shape, computed once on the coordinator and handed to every rank, so that no part of
 * the run works out steps, epochs or slice sizes on its own.
 */
export interface PhasePlan {
  /** Rows the phase trains on. */
  rows: number;
  /** Global batch size: every step the ranks compute slices of one batch of this many rows. */
  batchSize: number;
  /** Ranks (worker threads). */
  workers: number;
  /** Batches per pass over the rows (the last one may be smaller). */
  stepsPerEpoch: number;
  /** Passes over the rows, the last one possibly partial. */
  epochs: number;
  /** Optimizer steps of the phase. */
  steps: number;
  /** The most rows one rank computes in a step (slices differ by at most one row). */
  maxRowsPerRank: number;
}

/** What fixes a plan: the rows, the batch, the ranks, and either the epochs or the steps. */
export interface PhaseSize {
  rows: number;
  batchSize: number;
  workers: number;
  /** Whole passes over the rows; or, for a phase that matches another's budget, `steps`. */
  epochs?: number;
  steps?: number;
}

export function planPhase({ rows, batchSize, workers, epochs, steps }: PhaseSize): PhasePlan {
  const stepsPerEpoch = Math.ceil(rows / batchSize);
  const total = steps ?? (epochs ?? 1) * stepsPerEpoch;
  return {
    rows,
    batchSize,
    workers,
    stepsPerEpoch,
    epochs: epochs ?? Math.ceil(total / stepsPerEpoch),
    steps: total,
    maxRowsPerRank: Math.ceil(batchSize / workers),
  };
}
