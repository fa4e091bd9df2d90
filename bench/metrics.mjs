// The bench's arithmetic, kept pure so the tests can check it: FLOPs per sample, the share of step time
// spent in each part of a training step, resident memory per worker, and the speed-up / efficiency of each row.

/**
 * Multiply-adds x 2 of one sample's forward pass, from a model's layers described as
 * `{ kind: 'dense', inputs, units }` or `{ kind: 'conv2d', outHeight, outWidth, filters, kernelHeight,
 * kernelWidth, inChannels }`; other layers (activations, pooling, reshapes) are not counted.
 */
export function forwardFlopsPerSample(layers) {
  let flops = 0;
  for (const layer of layers) {
    if (layer.kind === 'dense') flops += 2 * layer.inputs * layer.units;
    else if (layer.kind === 'conv2d') {
      flops += 2 * layer.outHeight * layer.outWidth * layer.filters * layer.kernelHeight * layer.kernelWidth * layer.inChannels;
    }
  }
  return flops;
}

/** Training counts as 3 forward passes (the forward, then the input and weight gradients), the usual convention. */
export const TRAIN_FLOPS_PER_FORWARD = 3;

/**
 * The shares of step time spent averaging gradients (waiting for a slower rank included) and, of that,
 * waiting, from a training outcome's `stepMs` ({ gradient, averaging, waiting, update } ms per step).
 */
export function averagingShares(stepMs) {
  const total = stepMs.gradient + stepMs.averaging + stepMs.update;
  return total > 0 ? { averaging: stepMs.averaging / total, waiting: stepMs.waiting / total } : { averaging: 0, waiting: 0 };
}

/**
 * Resident memory each worker thread costs, in MB: the process's RSS with a W-thread pool that has run
 * the phases, less its RSS just before the pool started (data and models already loaded), over W.
 */
export function rssMBPerWorker(rssBeforePool, rssWithPool, workers) {
  return Math.max(0, rssWithPool - rssBeforePool) / workers / 2 ** 20;
}

/** The middle value (the upper one of an even count). */
export function median(values) {
  if (values.length === 0) throw new Error('median of no values');
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

/**
 * One row per measurement across rounds: of the rows `keyOf` groups together, the one with the median
 * samples/s, whole (its allreduce share, step times and memory are that run's), with `rounds` (how many
 * rounds measured it) and `samplesPerSecRange` ([lowest, highest]) added.
 */
export function medianAcrossRounds(rows, keyOf) {
  const groups = new Map();
  for (const row of rows) groups.set(keyOf(row), [...(groups.get(keyOf(row)) ?? []), row]);
  return [...groups.values()].map((group) => {
    const sorted = [...group].sort((a, b) => a.samplesPerSec - b.samplesPerSec);
    const middle = sorted[Math.floor(sorted.length / 2)];
    return { ...middle, rounds: group.length, samplesPerSecRange: [sorted[0].samplesPerSec, sorted.at(-1).samplesPerSec] };
  });
}

/** The identity of a measured series: one line of the chart, one block of the table. */
export const seriesKey = (r) => `${r.phase} ${r.model} ${r.kernels}${r.rowsPerWorker ? `, ${r.rowsPerWorker} rows per worker` : ''}`;

/**
 * Adds `speedup` (against the same series at its smallest W, scaled to W = 1 when that is not 1) and
 * `efficiency` (speed-up / W) to each result row.
 */
export function withScaling(results) {
  const base = new Map();
  for (const r of results) {
    const b = base.get(seriesKey(r));
    if (!b || r.workers < b.workers) base.set(seriesKey(r), r);
  }
  return results.map((r) => {
    const b = base.get(seriesKey(r));
    const speedup = (r.samplesPerSec / b.samplesPerSec) * b.workers;
    return { ...r, speedup, efficiency: speedup / r.workers };
  });
}
