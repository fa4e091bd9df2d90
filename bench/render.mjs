// Turns a bench report (bench/results/latest.json) into the markdown table and the SVG chart
// docs/scaling-and-performance.md shows, and the targets summary run.mjs prints. Pure functions; run directly it regenerates
// latest.md and latest.svg from latest.json (or from the file given):  node bench/render.mjs [report.json]
import { renderHeadline } from './render-headline.mjs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gemmFloor, gemmKey, rowsPerRank, seriesKey, withScaling } from './metrics.mjs';

const fmt = (n, digits = 0) =>
  n === null || n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (n) => (n === null || n === undefined ? '-' : `${(n * 100).toFixed(1)}%`);
const maxBy = (rows, f) => rows.reduce((best, r) => (best === undefined || f(r) > f(best) ? r : best), undefined);

/** The best reference of a name, phase and model (PyTorch: its best setting). */
function bestReference(report, name, phase, model) {
  return maxBy(
    report.references.filter((r) => r.name === name && r.phase === phase && r.model === model),
    (r) => r.samplesPerSec,
  );
}

/** The ONNX teacher's rows (onnxruntime sessions in the pool) and references are told apart by their kernels. */
const ONNX = 'onnxruntime';
const isOnnx = (r) => r.kernels === ONNX;
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

/** A training row's batch: the global batch, with the rows per worker when that series is the row's. */
const batchOf = (r) =>
  r.phase !== 'train' ? '-' : r.rowsPerWorker ? `${fmt(r.batchSize)} (${r.rowsPerWorker} per worker)` : fmt(r.batchSize);

/** `lowest–highest` samples/s over the rounds, or '-' for a row measured once. */
const range = (r) => (r.samplesPerSecRange && r.rounds > 1 ? `${fmt(r.samplesPerSecRange[0])}–${fmt(r.samplesPerSecRange[1])}` : '-');

/** The markdown tables: every measured row, the references next to tfjs-distill, and the targets. */
export function renderMarkdown(report) {
  const m = report.machine;
  const lines = [
    `${m.cpus} CPUs (${m.cpuModel ?? 'unknown CPU'}), node ${m.node}, backend ${m.backend}, kernels measured: ${m.kernelsMeasured?.join(', ') ?? m.kernels}` +
      (m.loadAverage ? `; load average at start ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')}` : '') +
      (m.ceiling
        ? `; machine ceiling (a CPU-bound JS loop in W threads, speed-up over W=1): ${m.ceiling
            .filter((c) => c.workers > 1)
            .map((c) => `W=${c.workers} ${c.speedup.toFixed(2)}x${c.when ? ` at the ${c.when}` : ''}`)
            .join(', ')}`
        : ''),
    '',
    ...(report.settings?.rounds > 1
      ? [
          `Each row is the median of ${report.settings.rounds} rounds, each round running every W and reference in turn; the range is the lowest and highest round.`,
          '',
        ]
      : []),
    ...(report.headline
      ? ['## Headline: KD training as a CLI run reports it', '', renderHeadline(report.headline), '## Steady state, in the step', '']
      : []),
    '| phase | model | params | kernels | workers | batch | samples/s | range over rounds | GFLOP/s | speed-up vs W=1 | efficiency | allreduce share (waiting) | RSS MB / worker |',
    '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of withScaling(report.results)) {
    lines.push(
      `| ${r.phase} | ${r.model} | ${fmt(r.params)} | ${r.kernels} | ${r.workers} | ${batchOf(r)} | ${fmt(r.samplesPerSec)} | ${range(r)} | ${fmt(r.gflops, 2)} | ${r.speedup.toFixed(2)}x | ${Math.round(r.efficiency * 100)}% | ${r.phase === 'train' ? `${pct(r.allreduceShare)} (${pct(r.waitShare)})` : '-'} | ${fmt(r.rssMBPerWorker)} |`,
    );
  }
  const steps = report.results.filter((r) => r.stepMs && !(r.rowsPerWorker && r.workers === 1)); // that W=1 run is listed once
  if (steps.length > 0) {
    lines.push(
      '',
      '| training step (ms, mean over ranks) | kernels | workers | gradient | averaging | of which waiting for the slower rank | optimizer and reload | first step (left out) | step (batch / samples/s) | GEMM floor | step / floor |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const r of steps) {
      const floor = stepVsFloor(report, r);
      lines.push(
        `| ${r.model}, batch ${batchOf(r)} | ${r.kernels} | ${r.workers} | ${fmt(r.stepMs.gradient)} | ${fmt(r.stepMs.averaging, 1)} | ${fmt(r.stepMs.waiting, 1)} | ${fmt(r.stepMs.update, 1)} | ${fmt(r.firstStepMs)} | ${fmt(floor?.stepMs, 1)} | ${fmt(floor?.floorMs, 1)} | ${floor ? `${floor.ratio.toFixed(2)}x` : '-'} |`,
      );
    }
    if (report.gemmFloor) {
      const rates = report.gemmFloor.rates;
      const spread = (g) => (g.rounds > 1 ? g.msRange[1] / g.msRange[0] - 1 : 0);
      lines.push(
        '',
        `GEMM floor: the step's GEMMs (forward, weight gradients, input gradients but the first layer's; convs as im2col products) ` +
          `on one worker's rows, each at the time OpenBLAS (${report.gemmFloor.library ?? 'unknown'}, 1 thread, tfjs-distill's addon) ` +
          `took on that shape alone in this run (${rates.length} shapes, ${fmt(Math.min(...rates.map((g) => g.gflops)), 1)} to ` +
          `${fmt(Math.max(...rates.map((g) => g.gflops)), 1)} GFLOP/s` +
          `${rates.some((g) => g.rounds > 1) ? `; the widest range over rounds ${pct(Math.max(...rates.map(spread)))} of a shape's lowest time` : ''}). ` +
          'Step / floor is how far a step is from what its matrix products alone cost on one core; elementwise work, the loss, ' +
          'averaging and the optimizer are all above the floor.',
      );
    }
  }
  if (report.references.length > 0) {
    const rows = withScaling(report.results);
    const top = Math.max(...rows.map((r) => r.workers));
    lines.push(
      '',
      `| reference | phase | model | threads | samples/s | range over rounds | GFLOP/s | tfjs-distill at W=${top} / reference |`,
      '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const ref of report.references) {
      // onnxruntime alone is compared with onnxruntime in the pool; the others with tfjs-distill's tfjs rows.
      const ours = maxBy(
        rows.filter(
          (r) => r.phase === ref.phase && r.model === ref.model && r.workers === top && !r.rowsPerWorker && isOnnx(r) === isOnnx(ref),
        ),
        (r) => r.samplesPerSec,
      );
      lines.push(
        `| ${ref.name}${referenceSetting(ref)}${ref.best ? ' (best)' : ''} | ${ref.phase} | ${ref.model} | ${ref.threads} | ${fmt(ref.samplesPerSec)} | ${range(ref)} | ${fmt(ref.gflops, 2)} | ${ours ? `${(ours.samplesPerSec / ref.samplesPerSec).toFixed(2)}x` : '-'} |`,
      );
    }
  }
  const decomposition = fitDecomposition(report);
  if (decomposition.length > 0) {
    const factor = (f) => (f ? `${f.value.toFixed(2)}x${f.range ? ` (${f.range[0].toFixed(2)}–${f.range[1].toFixed(2)})` : ''}` : '-');
    lines.push(
      '',
      `Where the training speed-up over tfjs's model.fit comes from (${decomposition[0].stock.model}, global batch ${report.settings?.batchSize ?? '-'}, samples/s; factors with their range over rounds):`,
      '',
      `| kernels | stock model.fit | model.fit with the kernels | kernels' factor | tfjs-distill W=1 | training loop's factor | tfjs-distill W=${decomposition[0].top} | workers' factor | whole |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const d of decomposition) {
      lines.push(
        `| ${d.kernels} | ${fmt(d.stock.samplesPerSec)} | ${fmt(d.fit.samplesPerSec)} | ${factor(d.kernelsFactor)} | ${fmt(d.one?.samplesPerSec)} | ${factor(d.loopFactor)} | ${fmt(d.all?.samplesPerSec)} | ${factor(d.workersFactor)} | ${factor(d.total)} |`,
      );
    }
  }
  if (report.pytorch)
    lines.push(
      '',
      `PyTorch ${report.pytorch.torch}, BLAS: built with ${report.pytorch.blas.built}, runs ${report.pytorch.blas.mapped.join(', ') || 'no separate BLAS library'}.`,
    );
  const onnx = onnxComparison(report);
  if (onnx.length > 0) {
    const single = onnx[0].single;
    const all = report.references.find((r) => isOnnx(r) && r.threads > 1);
    const kernels = [...new Set(onnx.flatMap((o) => o.tfjs.map((t) => t.kernels)))];
    const ref = (r) => (r ? `${fmt(r.samplesPerSec)} rows/s${r.rounds > 1 ? ` (${range(r)})` : ''}` : 'not measured');
    lines.push(
      '',
      `ONNX teacher labelling: ${report.onnx?.model ?? onnx[0].row.model} exported from PyTorch ${report.onnx?.torch ?? ''} ` +
        `(${fmt(onnx[0].row.params)} parameters; ${report.onnx?.exportedBy ?? 'bench/export_cnn_onnx.py'}), ` +
        `run by onnxruntime-node ${report.onnx?.onnxruntime ?? ''} sessions in the pool, one per worker on one thread. ` +
        `onnxruntime-node alone, one session in a plain loop at batch ${single?.batchSize ?? report.settings?.batchSize ?? 256}: ` +
        `${ref(single)} on 1 thread; ${all ? `${ref(all)} with intraOpNumThreads ${all.threads}` : 'not measured on more threads'}.`,
      '',
      `| workers | onnxruntime in the pool, rows/s | range over rounds | / (W x single-thread onnxruntime) | ${kernels
        .map((k) => `tfjs ${report.onnx?.model ?? onnx[0].row.model} (${k}), rows/s | onnx / tfjs (${k})`)
        .join(' | ')} |`,
      `| ---: | ---: | ---: | ---: |${' ---: | ---: |'.repeat(kernels.length)}`,
    );
    for (const o of onnx) {
      const tfjs = kernels.map((k) => {
        const t = o.tfjs.find((r) => r.kernels === k);
        return t ? `${fmt(t.samplesPerSec)} | ${(o.row.samplesPerSec / t.samplesPerSec).toFixed(2)}x` : '- | -';
      });
      const share = o.share === null ? '-' : `${pct(o.share)}${o.shareRange ? ` (${pct(o.shareRange[0])}–${pct(o.shareRange[1])})` : ''}`;
      lines.push(`| ${o.row.workers} | ${fmt(o.row.samplesPerSec)} | ${range(o.row)} | ${share} | ${tfjs.join(' | ')} |`);
    }
  }
  if (report.onnx && onnx.length === 0) lines.push('', 'ONNX teacher labelling: not measured.');
  lines.push(
    '',
    'A target measured in rounds is met only if its whole range over them is (a range that straddles the goal is not).',
    '',
    '| target | measured | range over rounds | goal | met |',
    '| --- | ---: | ---: | ---: | --- |',
  );
  for (const t of targets(report)) {
    const show = (v) => (v === null || v === undefined ? 'not measured' : t.unit === '%' ? pct(v) : `${v.toFixed(2)}x`);
    const goal = t.target === undefined ? '-' : `${t.atMost ? '<=' : '>='} ${show(t.target)}`;
    const met = targetMet(t);
    const spread = t.range ? `${show(t.range[0])}–${show(t.range[1])}` : '-';
    lines.push(`| ${t.name} | ${show(t.value)} | ${spread} | ${goal} | ${met === null ? '-' : met ? 'yes' : 'no'} |`);
  }
  return `${lines.join('\n')}\n`;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * Two panels against the worker count W: throughput (log scale; dotted: ideal linear scaling from W=1;
 * dashed grey: the training references) and parallel efficiency (100% = linear).
 */
export function renderSvg(report) {
  const rows = withScaling(report.results);
  const series = [...new Set(rows.map(seriesKey))].map((key, i) => ({
    key,
    color: COLORS[i % COLORS.length],
    points: rows.filter((r) => seriesKey(r) === key).sort((a, b) => a.workers - b.workers),
  }));
  const workers = [...new Set(rows.map((r) => r.workers))].sort((a, b) => a - b);
  // The dense model's training references: PyTorch's best setting, and each model.fit.
  const dense = report.settings?.denseModel ?? rows.find((r) => r.phase === 'train')?.model;
  const refs = report.references.filter((r) => r.phase === 'train' && r.model === dense && (r.best || r.name !== 'pytorch-cpu'));
  const W = 960;
  const panel = { top: 40, bottom: 330, width: 360 };
  // The legend: two columns wide enough for the longest series names, a row of 16 px per pair, then the note.
  const H = panel.bottom + 52 + Math.ceil(series.length / 2) * 16 + 16;
  const lefts = [70, 540];
  const xOf = (left, w) => left + (workers.length === 1 ? panel.width / 2 : (workers.indexOf(w) / (workers.length - 1)) * panel.width);
  const values = [
    ...rows.flatMap((r) => [r.samplesPerSec, r.speedup && (r.samplesPerSec / r.speedup) * r.workers]),
    ...refs.map((r) => r.samplesPerSec),
  ].filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const yLog = (v) => panel.bottom - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (panel.bottom - panel.top);
  const maxEff = Math.max(1.2, ...rows.map((r) => r.efficiency));
  const yEff = (e) => panel.bottom - (e / maxEff) * (panel.bottom - panel.top);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">tfjs-distill scaling: ${report.machine.cpus} CPUs, node ${esc(report.machine.node)}, ${esc(report.machine.backend)}</text>`,
  ];
  const axes = (left, title, ticks) => {
    out.push(`<text x="${left + panel.width / 2}" y="${panel.top - 8}" text-anchor="middle">${title}</text>`);
    out.push(
      `<line x1="${left}" y1="${panel.bottom}" x2="${left + panel.width}" y2="${panel.bottom}" stroke="black"/><line x1="${left}" y1="${panel.top}" x2="${left}" y2="${panel.bottom}" stroke="black"/>`,
    );
    for (const w of workers) out.push(`<text x="${xOf(left, w)}" y="${panel.bottom + 16}" text-anchor="middle">${w}</text>`);
    out.push(`<text x="${left + panel.width / 2}" y="${panel.bottom + 32}" text-anchor="middle">workers (W)</text>`);
    for (const [y, label] of ticks)
      out.push(
        `<line x1="${left}" y1="${y}" x2="${left + panel.width}" y2="${y}" stroke="#ddd"/><text x="${left - 6}" y="${y + 4}" text-anchor="end">${label}</text>`,
      );
  };
  const logTicks = [];
  for (let v = lo; v <= hi; v *= 10) logTicks.push([yLog(v), fmt(v)]);
  axes(lefts[0], 'samples/s (log)', logTicks);
  axes(
    lefts[1],
    'parallel efficiency',
    [0, 0.25, 0.5, 0.75, 1].map((e) => [yEff(e), `${e * 100}%`]),
  );
  const line = (pts, attrs) =>
    `<polyline fill="none" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}" ${attrs}/>`;
  out.push(
    line(
      [
        [lefts[1], yEff(1)],
        [lefts[1] + panel.width, yEff(1)],
      ],
      'stroke="black" stroke-dasharray="2,3"',
    ),
  );
  for (const s of series) {
    const base = s.points[0].samplesPerSec / s.points[0].workers;
    out.push(
      line(
        s.points.map((p) => [xOf(lefts[0], p.workers), yLog(base * p.workers)]),
        `stroke="${s.color}" stroke-dasharray="2,3"`,
      ),
    );
    out.push(
      line(
        s.points.map((p) => [xOf(lefts[0], p.workers), yLog(p.samplesPerSec)]),
        `stroke="${s.color}" stroke-width="2"`,
      ),
    );
    out.push(
      line(
        s.points.map((p) => [xOf(lefts[1], p.workers), yEff(p.efficiency)]),
        `stroke="${s.color}" stroke-width="2"`,
      ),
    );
    for (const p of s.points)
      out.push(
        `<circle cx="${xOf(lefts[0], p.workers)}" cy="${yLog(p.samplesPerSec)}" r="3" fill="${s.color}"/><circle cx="${xOf(lefts[1], p.workers)}" cy="${yEff(p.efficiency)}" r="3" fill="${s.color}"/>`,
      );
  }
  for (const ref of refs) {
    const y = yLog(ref.samplesPerSec);
    out.push(
      line(
        [
          [lefts[0], y],
          [lefts[0] + panel.width, y],
        ],
        'stroke="#777" stroke-dasharray="6,4"',
      ),
    );
    out.push(
      `<text x="${lefts[0] + panel.width - 2}" y="${y - 4}" text-anchor="end" fill="#555">${esc(ref.name)}${ref.threads > 1 ? `, ${ref.threads} threads` : ''} (train)</text>`,
    );
  }
  series.forEach((s, i) => {
    const x = 70 + (i % 2) * 450;
    const y = panel.bottom + 52 + Math.floor(i / 2) * 16;
    out.push(
      `<line x1="${x}" y1="${y - 4}" x2="${x + 20}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"/><text x="${x + 26}" y="${y}">${esc(s.key)}</text>`,
    );
  });
  out.push(`<text x="${W - 10}" y="${H - 6}" text-anchor="end" fill="#555">dotted: ideal linear scaling from W=1</text>`, '</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes latest.md and latest.svg next to the report, each through a temporary file. */
export async function writeRenderings(report, jsonPath) {
  for (const [ext, text] of [
    ['md', renderMarkdown(report)],
    ['svg', renderSvg(report)],
  ]) {
    const path = jsonPath.replace(/\.json$/, `.${ext}`);
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const jsonPath = process.argv[2] ?? fileURLToPath(new URL('./results/latest.json', import.meta.url));
  await writeRenderings(JSON.parse(await readFile(jsonPath, 'utf8')), jsonPath);
  console.log(`wrote ${jsonPath.replace(/\.json$/, '.md')} and .svg`);
}

/** A reference's setting, as its row names it: PyTorch's threads (older results: the OpenMP wait policy). */
function referenceSetting(ref) {
  if (ref.config) return `, ${ref.config}`;
  return ref.waitPolicy && ref.threads > 1 ? `, OMP_WAIT_POLICY=${ref.waitPolicy}` : '';
}
