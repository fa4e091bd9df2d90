// The bench's arithmetic, kept pure so the tests can check it: FLOPs per sample, the share of step time
// spent in each part of a training step, resident memory per worker, and the speed-up / efficiency of each row.

/**
 * The matrix products one step of a model runs, as GEMMs { layer, pass, m, n, k, transA, transB, flops }
 * with C[m, n] = op(A)[m, k] @ op(B)[k, n] and flops = 2mnk, for `batch` rows. `layers` describe the
 * model's weighted layers in order, as `{ kind: 'dense', inputs, units }` or `{ kind: 'conv2d', outHeight,
 * outWidth, filters, kernelHeight, kernelWidth, inChannels }` (convs as their im2col GEMM: M = batch x
 * output pixels, K = kernel height x width x input channels); other layers (activations, pooling, reshapes,
 * biases, the loss) are elementwise work and not counted. `label` is the forward pass alone. `train` is
 * what the step computes: the forward pass, every layer's weight gradient, and the gradient to each
 * layer's input except the first weighted layer's, whose input is the data and needs none.
 */
export function stepGemms(layers, batch, phase) {
  const gemms = [];
  layers.forEach((layer, i) => {
    const add = (pass, m, n, k, transA, transB) => gemms.push({ layer: i, pass, m, n, k, transA, transB, flops: 2 * m * n * k });
    // Dense: x[batch, inputs] @ W[inputs, units]. Conv: col(x)[batch x pixels, K] @ W[K, filters].
    const [m, k, n] =
      layer.kind === 'dense'
        ? [batch, layer.inputs, layer.units]
        : [batch * layer.outHeight * layer.outWidth, layer.kernelHeight * layer.kernelWidth * layer.inChannels, layer.filters];
    add('forward', m, n, k, false, false);
    if (phase !== 'train') return;
    add('weight grad', k, n, m, true, false); // x^T @ dy
    if (i > 0) add('input grad', m, k, n, false, true); // dy @ W^T
  });
  return gemms;
}

/** FLOPs of one sample's step (`label`: the forward pass; `train`: see {@link stepGemms}), 2 per multiply-add. */
export function flopsPerSample(layers, phase) {
  return stepGemms(layers, 1, phase).reduce((sum, g) => sum + g.flops, 0);
}

/** FLOPs of one sample's forward pass. */
export const forwardFlopsPerSample = (layers) => flopsPerSample(layers, 'label');

/**
 * A training row's GEMM floor: the time its step's GEMMs take at OpenBLAS's measured single-thread rate
 * on each shape (`msOf(gemm)`, ms) on one worker's rows, the slowest rank's when the batch does not split
 * evenly; and the measured step over it. Null when a shape was not measured.
 */
export function gemmFloor(layers, perWorkerBatch, msOf) {
  let ms = 0;
  for (const gemm of stepGemms(layers, perWorkerBatch, 'train')) {
    const t = msOf(gemm);
    if (t === undefined || t === null) return null;
    ms += t;
  }
  return ms;
}

/** The rows one worker computes in a step of `batchSize` rows split over `workers` (the largest share). */
export const rowsPerRank = (batchSize, workers) => Math.ceil(batchSize / workers);

/** The key a GEMM shape is measured and looked up by. */
export const gemmKey = (g) => `${g.m}x${g.n}x${g.k}${g.transA ? ' tA' : ''}${g.transB ? ' tB' : ''}`;

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
