// Turns a bench report (bench/results/latest.json) into the markdown table and the SVG chart
// docs/scaling-and-performance.md shows, and the targets summary run.mjs prints. Pure functions; run directly it regenerates
// latest.md and latest.svg from latest.json (or from the file given):  node bench/render.mjs [report.json]
import { renderHeadline } from './render-headline.mjs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { withScaling } from './metrics.mjs';
import { fmt, isOnnx, maxBy, pct } from './render-format.mjs';
import { fitDecomposition, onnxComparison, stepVsFloor, targetMet, targets } from './report-ratios.mjs';
import { renderSvg } from './render-svg.mjs';

/** A training row's batch: the global batch, with the rows per worker when that series is the row's. */
const batchOf = (r) =>
  r.phase !== 'train' ? '-' : r.rowsPerWorker ? `${fmt(r.batchSize)} (${r.rowsPerWorker} per worker)` : fmt(r.batchSize);

/** `lowest–highest` samples/s over the rounds, or '-' for a row measured once. */
const range = (r) => (r.samplesPerSecRange && r.rounds > 1 ? `${fmt(r.samplesPerSecRange[0])}–${fmt(r.samplesPerSecRange[1])}` : '-');

/** The training steps' parts, each against its GEMM floor. */
function pushStepTable(report, lines) {
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
}

/** The references (PyTorch, onnxruntime, model.fit) next to tfjs-distill's rows at the most workers. */
function pushReferenceTable(report, lines) {
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
}

/** Where the training speed-up over tfjs's model.fit comes from, factor by factor. */
function pushFitDecomposition(report, lines) {
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
}

/** The ONNX teacher's labelling in the pool against onnxruntime alone and the tfjs CNN. */
function pushOnnxLabelling(report, lines) {
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
}

/** The targets, each met only if its whole range over the rounds is. */
function pushTargets(report, lines) {
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
}

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
  pushStepTable(report, lines);
  pushReferenceTable(report, lines);
  pushFitDecomposition(report, lines);
  if (report.pytorch)
    lines.push(
      '',
      `PyTorch ${report.pytorch.torch}, BLAS: built with ${report.pytorch.blas.built}, runs ${report.pytorch.blas.mapped.join(', ') || 'no separate BLAS library'}.`,
    );
  pushOnnxLabelling(report, lines);
  pushTargets(report, lines);
  return `${lines.join('\n')}\n`;
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
