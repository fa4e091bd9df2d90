// The ratios a bench report's targets are read from (speed-ups with their ranges over rounds, the step against
// its GEMM floor, where the speed-up over model.fit comes from); bench/render.mjs and run.mjs print them.
import { isOnnx, maxBy, ONNX } from './render-format.mjs';
import { gemmFloor, gemmKey, rowsPerRank, seriesKey, withScaling } from './metrics.mjs';

/** The best reference of a name, phase and model (PyTorch: its best setting). */
function bestReference(report, name, phase, model) {
  return maxBy(
    report.references.filter((r) => r.name === name && r.phase === phase && r.model === model),
    (r) => r.samplesPerSec,
  );
}

/** The ONNX teacher's rows (onnxruntime sessions in the pool) and references are told apart by their kernels. */
/** What labelling at W workers is held to: this share of W x the single-thread onnxruntime reference. */
const ONNX_SHARE = 0.9;

/**
 * The range over rounds of `value` = scale x num/den, for two rows or references measured in rounds:
 * [num's lowest / den's highest, num's highest / den's lowest] x scale, the widest the rounds allow.
 * Null when neither was measured more than once.
 */
function rangeOf(value, num, den) {
  const span = (r) => (r.samplesPerSecRange && r.rounds > 1 ? r.samplesPerSecRange : [r.samplesPerSec, r.samplesPerSec]);
  if (value === null || !(num.rounds > 1 || den.rounds > 1)) return null;
  const scale = value / (num.samplesPerSec / den.samplesPerSec);
  return [(span(num)[0] / span(den)[1]) * scale, (span(num)[1] / span(den)[0]) * scale];
}

/** A row's speed-up over its series' smallest W, with its range over rounds. */
function speedupOf(rows, r) {
  if (!r) return { value: null, range: null };
  const base = maxBy(
    rows.filter((b) => seriesKey(b) === seriesKey(r)),
    (b) => -b.workers,
  );
  return { value: r.speedup, range: rangeOf(r.speedup, r, base) };
}

/**
 * Whether a target is met: its value and, when measured in rounds, the whole of its range on the goal's
 * side (a range that straddles the goal is not met). Null when there is no goal or no value.
 */
export function targetMet(t) {
  if (t.target === undefined || t.value === null || t.value === undefined) return null;
  const meets = (v) => (t.atMost ? v <= t.target : v >= t.target);
  return meets(t.value) && (!t.range || t.range.every(meets));
}

/**
 * The ONNX teacher's labelling at each W: the pool's rows/s, its share of W x the single-thread
 * onnxruntime reference (target: >= 0.9), and the tfjs CNN of the same layer shapes at that W.
 */
export function onnxComparison(report) {
  const single = report.references.find((r) => isOnnx(r) && r.threads === 1);
  const model = report.onnx?.model ?? report.results.find(isOnnx)?.model;
  return report.results
    .filter(isOnnx)
    .sort((a, b) => a.workers - b.workers)
    .map((r) => {
      const share = single ? r.samplesPerSec / (r.workers * single.samplesPerSec) : null;
      const tfjs = report.results.filter((t) => !isOnnx(t) && t.phase === 'label' && t.model === model && t.workers === r.workers);
      return { row: r, single, share, shareRange: single ? rangeOf(share, r, single) : null, tfjs };
    });
}

/** The ratios the targets are read from, each with what it compares; absent inputs give null. */
export function targets(report) {
  const rows = withScaling(report.results);
  const dense = report.settings?.denseModel ?? rows.find((r) => r.phase === 'train')?.model;
  // The bench's job is the global batch of settings.batchSize; the rows-per-worker series is reported beside it.
  const at = (phase, model, workers, perWorker = false) =>
    maxBy(
      rows.filter((r) => r.phase === phase && r.model === model && r.workers === workers && !!r.rowsPerWorker === perWorker),
      (r) => r.samplesPerSec,
    );
  const allCores = Math.max(...rows.map((r) => r.workers * (r.threads ?? 1)));
  // Every setting that uses every core (W = cores workers on one BLAS thread each, or fewer on more), fastest
  // first; the wasm kernel set, a fallback, only when nothing else ran.
  const onAllCores = (phase, model) => {
    const all = rows.filter(
      (r) => r.phase === phase && r.model === model && r.workers * (r.threads ?? 1) === allCores && !r.rowsPerWorker && !isOnnx(r),
    );
    const fast = all.filter((r) => r.kernels !== 'wasm');
    return (fast.length > 0 ? fast : all).sort((a, b) => b.samplesPerSec - a.samplesPerSec);
  };
  const batch = report.settings?.batchSize ?? '-';
  const train2 = at('train', dense, 2);
  const weak2 = at('train', dense, 2, true);
  // The ONNX rows have a target of their own, against onnxruntime alone (below).
  const labels2 = rows.filter((r) => r.phase === 'label' && r.workers === 2 && !isOnnx(r));
  const trainAll = onAllCores('train', dense);
  const topW = Math.max(...rows.map((r) => r.workers));
  const trainTop = at('train', dense, topW);
  const setting = (r) => (r ? `W=${r.workers}, ${r.kernels}` : '-');
  // A target with nothing measured still gets its row, with no value.
  const atLeastOne = (settings) => (settings.length > 0 ? settings : [undefined]);
  const torch = bestReference(report, 'pytorch-cpu', 'train', dense);
  const cnnModel = report.settings?.cnnModel ?? rows.find((r) => r.model.startsWith('cnn:'))?.model;
  const cnnTrainAll = onAllCores('train', cnnModel);
  const cnnTorch = bestReference(report, 'pytorch-cpu', 'train', cnnModel);
  const cnnLabelAll = onAllCores('label', cnnModel);
  const onnxAllCores = report.references.find((r) => isOnnx(r) && r.model === cnnModel && r.threads === allCores);
  // Training's GFLOP/s against labelling's on one worker and one BLAS thread, with the same tfjs kernels.
  const label1 = maxBy(
    rows.filter(
      (r) => r.phase === 'label' && r.model === dense && r.workers === 1 && (r.threads ?? 1) === 1 && !r.kernels.startsWith(ONNX),
    ),
    (r) => r.samplesPerSec,
  );
  const train1 = label1 && rows.find((r) => r.phase === 'train' && r.model === dense && r.workers === 1 && r.kernels === label1.kernels);
  const onnxTop = onnxComparison(report).at(-1);
  const cnn = report.onnx?.model ?? report.settings?.cnnModel ?? 'cnn';
  const ratio = (num, den, scale = 1) => {
    const value = num && den ? (num.samplesPerSec / den.samplesPerSec) * scale : null;
    return { value, range: num && den ? rangeOf(value, num, den) : null };
  };
  return [
    ...labels2.map((r) => ({ name: `labelling ${r.model} (${r.kernels}), W=2 vs W=1`, ...speedupOf(rows, r), unit: 'x', target: 1.9 })),
    {
      name: `labelling onnx ${cnn}, W=${onnxTop?.row.workers ?? allCores} vs ${ONNX_SHARE} x W x single-thread onnxruntime`,
      ...ratio(onnxTop?.row, onnxTop?.single, 1 / (ONNX_SHARE * (onnxTop?.row.workers ?? 1))),
      unit: 'x',
      target: 1,
    },
    {
      name: `training ${dense} (${train2?.kernels ?? '-'}), global batch ${batch}, W=2 vs W=1`,
      ...speedupOf(rows, train2),
      unit: 'x',
      target: 1.8,
    },
    {
      name: `training ${dense} (${weak2?.kernels ?? '-'}), ${batch} rows per worker, W=2 vs W=1`,
      ...speedupOf(rows, weak2),
      unit: 'x',
      target: 1.8,
    },
    {
      name: `gradient averaging share of step time, training at W=${topW}`,
      value: trainTop?.allreduceShare ?? null,
      unit: '%',
      target: 0.05,
      atMost: true,
    },
    { name: `of which waiting at the first barrier for the slower rank`, value: trainTop?.waitShare ?? null, unit: '%' },
    ...atLeastOne(trainAll).map((r) => ({
      name: `training samples/s, tfjs-distill on ${allCores} cores (${setting(r)}) / PyTorch CPU (${describeReference(torch)})`,
      ...ratio(r, torch),
      unit: 'x',
      target: 1,
    })),
    ...atLeastOne(cnnTrainAll).map((r) => ({
      name: `training ${cnnModel} samples/s, tfjs-distill on ${allCores} cores (${setting(r)}) / PyTorch CPU (${describeReference(cnnTorch)})`,
      ...ratio(r, cnnTorch),
      unit: 'x',
      target: 1.2,
    })),
    ...atLeastOne(cnnLabelAll).map((r) => ({
      name: `labelling ${cnnModel} rows/s, tfjs-distill on ${allCores} cores (${setting(r)}) / onnxruntime-node, intraOpNumThreads ${allCores}`,
      ...ratio(r, onnxAllCores),
      unit: 'x',
      target: 0.5,
    })),
    {
      name: `training GFLOP/s / labelling GFLOP/s, ${dense}, W=1 (${train1?.kernels ?? '-'})`,
      ...ratio(train1, label1, train1 && label1 ? train1.gflops / train1.samplesPerSec / (label1.gflops / label1.samplesPerSec) : 1),
      unit: '%',
      target: 0.6,
    },
  ];
}

/** A PyTorch reference's setting for a target's name. */
const describeReference = (ref) => (ref ? (ref.config ?? `${ref.threads} thread${ref.threads > 1 ? 's' : ''}`) : 'not measured');

/**
 * A training row against the machine's limit: its measured step (the global batch over its samples/s), in
 * ms, the GEMM floor of that step (bench/metrics.mjs gemmFloor: its GEMMs at OpenBLAS's single-thread
 * rate on each shape, on one rank's rows), and step / floor. Null when the report has no GEMM rates.
 */
export function stepVsFloor(report, r) {
  const floor = report.gemmFloor;
  const layers = floor?.models?.[r.model]?.layers;
  if (!layers || r.phase !== 'train') return null;
  const rates = new Map(floor.rates.map((g) => [g.key, g.ms]));
  const oneThread = gemmFloor(layers, rowsPerRank(r.batchSize, r.workers), (g) => rates.get(gemmKey(g)));
  if (oneThread === null) return null;
  // A worker on T BLAS threads: its GEMMs at best T times the one-thread rate.
  const floorMs = oneThread / (r.threads ?? 1);
  const stepMs = (r.batchSize / r.samplesPerSec) * 1000;
  return { stepMs, floorMs, ratio: stepMs / floorMs };
}

/**
 * Where tfjs-distill's training speed-up over tfjs's stock model.fit comes from, per kernel set: stock fit
 * -> fit with the kernel set (the kernels) -> tfjs-distill at W=1 (its training loop: fused step,
 * native optimizer, no model.fit overhead) -> at the top W (the workers). The factors multiply to the whole.
 */
export function fitDecomposition(report) {
  const dense = report.settings?.denseModel;
  const stock = report.references.find((r) => r.fit && r.kernels === 'stock' && (!dense || r.model === dense));
  if (!stock) return [];
  const rows = report.results.filter((r) => r.phase === 'train' && r.model === stock.model && !r.rowsPerWorker);
  const top = Math.max(...rows.map((r) => r.workers));
  return report.references
    .filter((r) => r.fit && r.kernels !== 'stock' && r.model === stock.model)
    .map((fit) => {
      const one = rows.find((r) => r.kernels === fit.kernels && r.workers === 1);
      const all = rows.find((r) => r.kernels === fit.kernels && r.workers === top);
      const factor = (num, den) =>
        num && den
          ? { value: num.samplesPerSec / den.samplesPerSec, range: rangeOf(num.samplesPerSec / den.samplesPerSec, num, den) }
          : null;
      return {
        kernels: fit.kernels,
        top,
        stock,
        fit,
        one,
        all,
        kernelsFactor: factor(fit, stock),
        loopFactor: factor(one, fit),
        workersFactor: factor(all, one),
        total: factor(all, stock),
      };
    });
}
