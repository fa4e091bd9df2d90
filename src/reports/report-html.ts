import type { TrainingPhase } from '../progress.js';
import type { StepBreakdown } from '../train/data-parallel.js';
import type { EpochRecord, HistoryRecord } from '../progress.js';
import type { DistillReport, TrainingPhaseReport } from './report.js';

/**
 * The run's report as one self-contained HTML page: the comparison table, per training phase the curves
 * of its epochs (training loss, validation accuracy, learning rate against the step), throughput, where
 * a step's time went, notices and the configuration. Charts are inline SVG built here, styles are inline,
 * and the page holds no script and loads nothing (its Content-Security-Policy forbids both), so it opens
 * offline and from an archive years later. Pure: the same report gives the same bytes.
 */
export function reportHtml(report: DistillReport): string {
  const names = modelNames(report);
  const title = `tfjs-distill report${names.student ? `: ${names.student} distilled from ${names.teacher ?? 'the teacher'}` : ''}`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing may be fetched or run: the page is a document, and stays one wherever it is opened.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${esc(title)}</h1>`,
    `<p class="lede">${esc(runLine(report))}</p>`,
    section('Comparison', comparisonTable(report, names)),
    section('Training curves', curvesSection(report)),
    section('Throughput', throughputSection(report)),
    section('Where a step went', stepSection(report)),
    section('Data and soft labels', dataSection(report)),
    section('Notices', noticesSection(report)),
    section('Configuration', configTable(report.config)),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

const STYLE = [
  'body{margin:24px auto;max-width:1160px;padding:0 16px;background:#fff;color:#1b1f24;',
  'font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}',
  'h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}',
  'h3{font-size:15px;margin:16px 0 6px}.lede{color:#3d444d;margin:0 0 8px}.muted{color:#59636e}',
  'table{border-collapse:collapse;margin:4px 0}th,td{padding:4px 10px;border-bottom:1px solid #e1e4e8;vertical-align:top}',
  'th{text-align:left;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}',
  'thead th{border-bottom:2px solid #9aa4ae}',
  'table.config td{word-break:break-all;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}',
  '.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #e1e4e8;border-radius:4px;background:#fff}',
  'svg text{fill:#1b1f24;font-size:11px}svg .title{font-size:12px;font-weight:600}svg .grid{stroke:#eaeef2}',
  'svg .axis{stroke:#59636e}svg.steps text{font-size:13px}',
  '.bar{display:inline-block;height:10px;background:#1f5fbf;vertical-align:middle;border-radius:2px}',
  'ul.notices{padding-left:20px}ul.notices li{margin:2px 0;white-space:pre-wrap}',
  '.legend span{display:inline-block;margin-right:14px}',
  '.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}',
].join('');

/** What the page calls a phase. */
const PHASE_TITLES: Record<TrainingPhase, string> = {
  teacher: 'teacher training',
  student: 'student distillation',
  baseline: 'baseline (hard labels only)',
};

const count = new Intl.NumberFormat('en-US');
const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
const rate = (x: number) => count.format(Math.round(x));
const ms = (x: number) => (x >= 0.1 ? `${x.toFixed(2)} ms` : `${(x * 1000).toFixed(1)} µs`);
const DASH = '–';

function bytes(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** Text made safe for element content and for quoted attribute values alike. */
function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const swatch = (color: string) => `<span class="swatch" style="background:${color}"></span>`;
const section = (heading: string, body: string) => `<section>\n<h2>${esc(heading)}</h2>\n${body}\n</section>`;

/** The CLI puts the models' names (paths or architecture specs) into the config; a library run may not. */
function modelNames(report: DistillReport): { teacher?: string; student?: string } {
  const named = (key: string) => (typeof report.config[key] === 'string' ? (report.config[key] as string) : undefined);
  const imported = (report.teacher !== null && 'imported' in report.teacher) || typeof report.config.teacherLogits === 'string';
  return { teacher: named('teacher') ?? (imported ? 'imported logits' : undefined), student: named('student') };
}

function runLine(report: DistillReport): string {
  const kernels = report.backend === 'wasm' ? ` (${report.kernels} kernels)` : '';
  const threads = report.kernels === 'openblas' && report.threadsPerWorker > 1 ? ` x ${report.threadsPerWorker} BLAS threads` : '';
  const d = report.data;
  return (
    `backend ${report.backend}${kernels}, ${plural(report.workers, 'worker')}${threads}; ${count.format(d.trainRows)} training rows ` +
    `(${count.format(d.labeledRows)} labelled), ${count.format(d.testRows)} test rows, ${d.numClasses} classes`
  );
}

// --- the comparison table ------------------------------------------------------------------------------

function comparisonTable(report: DistillReport, names: { teacher?: string; student?: string }): string {
  const { student, baseline } = report;
  // A teacher the run evaluated has the model's figures; imported test logits give the accuracy alone.
  const model = report.teacher && 'params' in report.teacher ? report.teacher : undefined;
  const cell = (column: string, metric: string, value: number | null | undefined, format: (v: number) => string) =>
    value === null || value === undefined
      ? `<td class="num" data-model="${column}" data-metric="${metric}">${DASH}</td>`
      : `<td class="num" data-model="${column}" data-metric="${metric}" data-value="${value}">${esc(format(value))}</td>`;
  const columns = ['teacher', 'student', ...(baseline ? ['baseline'] : [])];
  // Per row: its label, its marker, its format, and the teacher's, the student's and the baseline's value.
  type Value = number | null | undefined;
  const metrics: [string, string, (v: number) => string, Value, Value, Value][] = [
    ['test accuracy', 'accuracy', percent, report.teacher?.accuracy, student.accuracy, baseline?.accuracy],
    ['agreement with teacher', 'agreement', percent, null, student.agreement, baseline?.agreement],
    // The baseline is the student's architecture: the same size.
    ['parameters', 'params', count.format, model?.params, student.params, student.params],
    ['size (model.json + weights)', 'bytes', bytes, model?.bytes, student.bytes, student.bytes],
    ['latency per sample, batch 1', 'latencyMsBatch1', ms, model?.latencyMsBatch1, student.latencyMsBatch1, null],
    ['latency per sample, batch 256', 'latencyMsBatch256', ms, model?.latencyMsBatch256, student.latencyMsBatch256, null],
  ];
  const rows = metrics.map(
    ([label, metric, format, ...values]) =>
      `<tr><th>${esc(label)}</th>${columns.map((column, c) => cell(column, metric, values[c], format)).join('')}</tr>`,
  );
  const teacherNote =
    report.teacher === null
      ? 'the teacher was not evaluated (its logits were imported without test logits)'
      : 'imported' in report.teacher
        ? "the teacher's accuracy is that of its imported test logits"
        : undefined;
  const columnModels = [names.teacher, names.student, ...(baseline ? [names.student] : [])];
  return [
    '<table class="comparison">',
    `<thead><tr><th></th>${columns.map((c) => `<th class="num">${c}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    `<tr><th>model</th>${columnModels.map((n) => `<td class="num">${esc(n ?? DASH)}</td>`).join('')}</tr>`,
    ...rows,
    '</tbody>',
    '</table>',
    ...(teacherNote ? [`<p class="muted">${esc(teacherNote)}.</p>`] : []),
    ...(baseline ? ['<p class="muted">The baseline has the student\'s architecture, trained on the hard labels alone.</p>'] : []),
  ].join('\n');
}

// --- curves --------------------------------------------------------------------------------------------

/** A curve's name in the page's markers, what it plots, and how its values read. */
interface Series {
  key: 'trainLoss' | 'validationAccuracy' | 'learningRate';
  title: string;
  color: string;
  value: (record: EpochRecord) => number | undefined;
  /** The y axis' tick labels. */
  ticks: (ticks: number[]) => string[];
  /** One point's value, in its tooltip. */
  point: (value: number) => string;
  /** Values the series cannot leave, so its axis does not either. */
  bounds?: [number, number];
}

const SERIES: Series[] = [
  {
    key: 'trainLoss',
    title: 'training loss',
    color: '#1f5fbf',
    value: (r) => r.trainLoss,
    ticks: tickLabels,
    point: (v) => v.toPrecision(4),
  },
  {
    key: 'validationAccuracy',
    title: 'validation accuracy',
    color: '#1a7f37',
    value: (r) => r.validation?.accuracy,
    ticks: (ticks) => tickLabels(ticks.map((t) => 100 * t)).map((label) => `${label}%`),
    point: percent,
    bounds: [0, 1],
  },
  {
    key: 'learningRate',
    title: 'learning rate',
    color: '#b35c00',
    value: (r) => r.learningRate,
    ticks: tickLabels,
    point: (v) => v.toPrecision(3),
  },
];

/**
 * The epoch records of each training phase, in step order. A resumed run may record an epoch again
 * after redoing it; the later record is the one that describes the model that went on.
 */
function epochsByPhase(history: HistoryRecord[]): Map<TrainingPhase, EpochRecord[]> {
  const byPhase = new Map<TrainingPhase, Map<number, EpochRecord>>();
  for (const record of history) {
    if (record.kind !== 'epoch') continue;
    const epochs = byPhase.get(record.phase) ?? new Map<number, EpochRecord>();
    epochs.set(record.epoch, record);
    byPhase.set(record.phase, epochs);
  }
  return new Map([...byPhase].map(([phase, epochs]) => [phase, [...epochs.values()].sort((a, b) => a.step - b.step)]));
}

function curvesSection(report: DistillReport): string {
  const byPhase = epochsByPhase(report.history);
  if (byPhase.size === 0) return '<p class="muted">This report holds no per-epoch history, so there are no curves.</p>';
  // Phases in the order they ran; any the history names beyond the report's list follow.
  const order = [...report.phases.map((p) => p.phase), ...byPhase.keys()].filter((p, i, all) => all.indexOf(p) === i);
  const parts: string[] = [];
  for (const phase of order) {
    const epochs = byPhase.get(phase);
    if (!epochs) continue;
    const charts = SERIES.flatMap((series) => {
      const points = epochs.flatMap((r) => {
        const y = series.value(r);
        return y !== undefined && Number.isFinite(y) && Number.isFinite(r.step) ? [{ x: r.step, y }] : [];
      });
      return points.length > 0 ? [lineChart(phase, series, points)] : [];
    });
    const withoutValidation = epochs.every((r) => !r.validation) ? ' No validation split: no accuracy curve.' : '';
    const notFinite = epochs.filter((r) => !Number.isFinite(r.trainLoss)).length;
    const dropped = notFinite > 0 ? ` ${plural(notFinite, 'epoch')} with a non-finite loss left out of the loss curve.` : '';
    parts.push(
      `<h3>${esc(PHASE_TITLES[phase] ?? phase)}</h3>`,
      `<p class="muted">${plural(epochs.length, 'epoch')}, against the optimizer step.${withoutValidation}${dropped}</p>`,
      `<div class="charts">${charts.join('\n')}</div>`,
    );
  }
  return parts.join('\n');
}

const CHART = { width: 370, height: 230, left: 58, right: 14, top: 26, bottom: 38 };

/** One series of one phase: a line through the epochs' points, a dot on each, axes with round ticks. */
function lineChart(phase: TrainingPhase, series: Series, points: { x: number; y: number }[]): string {
  const { width, height, left, right, top, bottom } = CHART;
  const xTicks = niceTicks(0, Math.max(...points.map((p) => p.x)), 5, true);
  const [lowest, highest] = series.bounds ?? [-Infinity, Infinity];
  const yTicks = niceTicks(Math.min(...points.map((p) => p.y)), Math.max(...points.map((p) => p.y)), 4, false).filter(
    (t) => t >= lowest && t <= highest,
  );
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * (width - left - right);
  const py = (y: number) => height - bottom - ((y - y0) / (y1 - y0)) * (height - top - bottom);
  const f = (v: number) => v.toFixed(1);
  const yLabels = series.ticks(yTicks);
  const grid = yTicks.map(
    (t, i) =>
      `<line class="grid" x1="${left}" x2="${width - right}" y1="${f(py(t))}" y2="${f(py(t))}"/>` +
      `<text x="${left - 6}" y="${f(py(t) + 4)}" text-anchor="end">${esc(yLabels[i])}</text>`,
  );
  const xTickLabels = tickLabels(xTicks);
  const xLabels = xTicks.map(
    (t, i) =>
      `<line class="axis" x1="${f(px(t))}" x2="${f(px(t))}" y1="${height - bottom}" y2="${height - bottom + 4}"/>` +
      `<text x="${f(px(t))}" y="${height - bottom + 16}" text-anchor="middle">${esc(xTickLabels[i])}</text>`,
  );
  const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(px(p.x))},${f(py(p.y))}`).join(' ');
  const label = `${PHASE_TITLES[phase] ?? phase}: ${series.title} against step`;
  return [
    `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}">`,
    `<title>${esc(label)}</title>`,
    `<text class="title" x="${left}" y="16">${esc(series.title)}</text>`,
    ...grid,
    `<line class="axis" x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}"/>`,
    `<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}"/>`,
    ...xLabels,
    `<text x="${f((left + width - right) / 2)}" y="${height - 6}" text-anchor="middle">step</text>`,
    `<path class="curve" data-phase="${esc(phase)}" data-series="${series.key}" data-points="${points.length}" ` +
      `d="${d}" fill="none" stroke="${series.color}" stroke-width="2" stroke-linejoin="round"/>`,
    ...points.map(
      (p) =>
        `<circle class="point" cx="${f(px(p.x))}" cy="${f(py(p.y))}" r="2.5" fill="${series.color}">` +
        `<title>step ${p.x}: ${esc(series.point(p.y))}</title></circle>`,
    ),
    '</svg>',
  ].join('\n');
}

/**
 * Round tick values covering [lo, hi], about `intervals` of them: steps of 1, 2 or 5 times a power of ten.
 * A flat series (a constant learning rate) gets a band around its value so the line sits mid-chart.
 */
function niceTicks(lo: number, hi: number, intervals: number, integer: boolean): number[] {
  if (!(hi > lo)) {
    const pad = integer ? 1 : Math.abs(lo) * 0.1 || 1;
    [lo, hi] = [integer ? lo : lo - pad, hi + pad];
  }
  const raw = (hi - lo) / intervals;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  let step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/**
 * Labels for evenly spaced ticks, with as many decimals as their spacing needs, so neighbours read
 * apart; an axis of tiny values (learning rates) reads in exponent form throughout.
 */
function tickLabels(ticks: number[]): string[] {
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  const largest = Math.max(...ticks.map(Math.abs));
  const stepDigit = Math.floor(Math.log10(step) + 1e-9);
  if (largest > 0 && largest < 1e-2) {
    const digits = Math.max(0, Math.floor(Math.log10(largest) + 1e-9) - stepDigit);
    return ticks.map((t) => (t === 0 ? '0' : t.toExponential(digits)));
  }
  const decimals = Math.max(0, Math.min(6, -stepDigit));
  return ticks.map((t) => (largest >= 1e4 ? count.format(Number(t.toFixed(decimals))) : t.toFixed(decimals)));
}

// --- throughput and steps ------------------------------------------------------------------------------

function throughputSection(report: DistillReport): string {
  const t = report.throughput;
  const rates: [string, number, string][] = [];
  if (t.teacherTrainSamplesPerSec !== undefined) rates.push(['teacher training', t.teacherTrainSamplesPerSec, 'teacher']);
  if (t.labelSamplesPerSec !== null) {
    // A reused soft-label file carries the rate of the run that labelled the rows.
    rates.push([
      `teacher labelling${report.softLabels.reused ? ' (when the reused file was written)' : ''}`,
      t.labelSamplesPerSec,
      'label',
    ]);
  }
  rates.push(['student distillation', t.trainSamplesPerSec, 'student']);
  if (t.baselineTrainSamplesPerSec !== undefined) rates.push(['baseline training', t.baselineTrainSamplesPerSec, 'baseline']);
  const top = Math.max(...rates.map(([, r]) => r), 1);
  const rateRows = rates.map(
    ([label, r, key]) =>
      `<tr><th>${esc(label)}</th><td class="num" data-throughput="${key}" data-value="${r}">${rate(r)}</td>` +
      `<td><span class="bar" style="width:${Math.max(1, Math.round((300 * r) / top))}px"></span></td></tr>`,
  );
  const phaseRows = report.phases.map(
    (p: TrainingPhaseReport) =>
      `<tr><th>${esc(PHASE_TITLES[p.phase] ?? p.phase)}</th><td class="num">${count.format(p.steps)}</td>` +
      `<td class="num">${count.format(p.samples)}</td><td class="num">${p.seconds.toFixed(2)} s</td>` +
      `<td class="num">${rate(p.samplesPerSec)}</td>` +
      `<td class="num">${Number.isFinite(p.finalLoss) ? p.finalLoss.toFixed(4) : esc(p.finalLoss)}</td>` +
      `<td class="num">${count.format(p.skippedSteps)}</td></tr>`,
  );
  return [
    '<table class="throughput">',
    '<thead><tr><th></th><th class="num">samples/s</th><th></th></tr></thead>',
    `<tbody>${rateRows.join('\n')}</tbody>`,
    '</table>',
    '<p class="muted">Each phase\'s own wall time; starting the pool, loading the backend and the models took ' +
      `${t.setupSeconds.toFixed(1)} s.</p>`,
    ...(phaseRows.length > 0
      ? [
          '<table class="phases">',
          '<thead><tr><th>phase</th><th class="num">steps</th><th class="num">samples</th><th class="num">time</th>' +
            '<th class="num">samples/s</th><th class="num">last loss</th><th class="num">skipped steps</th></tr></thead>',
          `<tbody>${phaseRows.join('\n')}</tbody>`,
          '</table>',
        ]
      : []),
  ].join('\n');
}

/** The parts of a step, left to right; averaging is split into its own work and the wait for the slowest worker. */
const STEP_PARTS: { key: string; label: string; color: string; ms: (s: StepBreakdown) => number }[] = [
  { key: 'gradient', label: 'gradient', color: '#1f5fbf', ms: (s) => s.gradient },
  { key: 'averaging', label: 'averaging (own work)', color: '#8250df', ms: (s) => Math.max(0, s.averaging - s.waiting) },
  { key: 'waiting', label: 'waiting for the slowest worker', color: '#c4b5fd', ms: (s) => s.waiting },
  { key: 'update', label: 'update', color: '#b35c00', ms: (s) => s.update },
];

function stepSection(report: DistillReport): string {
  const phases = report.phases.filter((p): p is TrainingPhaseReport & { stepMs: StepBreakdown } => p.stepMs !== undefined);
  if (phases.length === 0) return '<p class="muted">No phase took enough steps to measure one.</p>';
  const total = (s: StepBreakdown) => s.gradient + s.averaging + s.update;
  // One scale for every phase, so their bars compare.
  const longest = Math.max(...phases.map((p) => total(p.stepMs)), 1e-9);
  const [labelWidth, barWidth, rowHeight] = [200, 760, 26];
  const height = phases.length * rowHeight + 6;
  const bars = phases.map((p, i) => {
    let x = labelWidth;
    const y = 4 + i * rowHeight;
    const segments = STEP_PARTS.map((part) => {
      const w = (part.ms(p.stepMs) / longest) * barWidth;
      const rect =
        `<rect class="step-part" data-phase="${esc(p.phase)}" data-part="${part.key}" x="${x.toFixed(1)}" y="${y}" ` +
        `width="${w.toFixed(1)}" height="${rowHeight - 8}" fill="${part.color}">` +
        `<title>${esc(part.label)}: ${esc(ms(part.ms(p.stepMs)))}</title></rect>`;
      x += w;
      return rect;
    });
    return [
      `<text x="0" y="${y + rowHeight / 2}">${esc(PHASE_TITLES[p.phase] ?? p.phase)}</text>`,
      ...segments,
      `<text x="${(x + 6).toFixed(1)}" y="${y + rowHeight / 2}">${esc(ms(total(p.stepMs)))}</text>`,
    ].join('');
  });
  const rows = phases.map(
    (p) =>
      `<tr><th>${esc(PHASE_TITLES[p.phase] ?? p.phase)}</th>` +
      [p.stepMs.gradient, p.stepMs.averaging, p.stepMs.waiting, p.stepMs.update, total(p.stepMs)]
        .map((v) => `<td class="num">${esc(ms(v))}</td>`)
        .join('') +
      '</tr>',
  );
  return [
    `<svg class="steps" width="${labelWidth + barWidth + 90}" height="${height}" viewBox="0 0 ${labelWidth + barWidth + 90} ${height}" ` +
      'role="img" aria-label="milliseconds per step by part, per phase">',
    ...bars,
    '</svg>',
    `<p class="legend">${STEP_PARTS.map((part) => `<span>${swatch(part.color)}${esc(part.label)}</span>`).join('')}</p>`,
    '<table class="step-breakdown">',
    '<thead><tr><th>ms per step</th><th class="num">gradient</th><th class="num">averaging</th><th class="num">of which waiting</th>' +
      '<th class="num">update</th><th class="num">total</th></tr></thead>',
    `<tbody>${rows.join('\n')}</tbody>`,
    '</table>',
    '<p class="muted">Averaged over the workers, leaving out the first step (it pays one-off costs). The gradient shrinks as ' +
      'workers are added; the averaging and the update do not, so when they dominate, more workers will not help.</p>',
  ].join('\n');
}

// --- data, notices, config -----------------------------------------------------------------------------

function dataSection(report: DistillReport): string {
  const d = report.data;
  const s = report.softLabels;
  const rows: [string, string][] = [
    ['training rows', count.format(d.trainRows)],
    ['labelled rows (student and baseline)', count.format(d.labeledRows)],
    ...(d.teacherLabeledRows !== undefined
      ? [['labelled rows (teacher training)', count.format(d.teacherLabeledRows)] as [string, string]]
      : []),
    ['test rows', count.format(d.testRows)],
    ['feature shape', `[${d.featureShape.join(', ')}]`],
    ['classes', d.classes ? `${d.numClasses}: ${d.classes.join(', ')}` : String(d.numClasses)],
    ['soft labels', `${s.encoding}, ${s.bytesPerRow} bytes per row`],
    [
      'soft-label source',
      s.importedFrom
        ? `imported from ${s.importedFrom}`
        : s.file
          ? `${s.reused ? 'reused from' : 'written to'} ${s.file}${s.fileBytes !== null ? ` (${bytes(s.fileBytes)})` : ''}`
          : 'kept in memory',
    ],
    ['labelling stage', `${s.seconds.toFixed(1)} s`],
    ...(report.resumed.length > 0 ? [['resumed from the checkpoint', report.resumed.join(', ')] as [string, string]] : []),
    ...report.restarts.map((r) => [`restarted the workers during ${r.phase}`, r.reason] as [string, string]),
  ];
  return `<table class="data">\n${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}\n</table>`;
}

function noticesSection(report: DistillReport): string {
  if (report.notices.length === 0) return '<p class="muted">None.</p>';
  return `<ul class="notices">\n${report.notices.map((n) => `<li>${esc(n)}</li>`).join('\n')}\n</ul>`;
}

function configTable(config: Record<string, unknown>): string {
  // report.json leaves out undefined settings; the page does the same.
  const rows = Object.entries(config)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `<tr><th>${esc(key)}</th><td>${esc(typeof value === 'string' ? value : JSON.stringify(value))}</td></tr>`);
  return `<table class="config">\n${rows.join('\n')}\n</table>`;
}
