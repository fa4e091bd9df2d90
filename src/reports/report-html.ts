import type { StepBreakdown } from '../train/data-parallel.js';
import { artifactsSection } from './artifacts-html.js';
import { classScoresSection, warningsList } from './class-scores-html.js';
import { curvesSection } from './curves-html.js';
import { onnxSection } from './onnx-html.js';
import { DASH, PHASE_TITLES, bytes, count, esc, ms, noticeList, percent, plural, rate, section, swatch } from './html-format.js';
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
    `<style>${REPORT_STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${esc(title)}</h1>`,
    `<p class="lede">${esc(runLine(report))}</p>`,
    section('Comparison', [comparisonTable(report, names) + ensembleTable(report), warningsList(report)].filter(Boolean).join('\n')),
    section('Per-class scores', classScoresSection(report)),
    ...(report.quantization ? [section('Shipped models', artifactsSection(report.quantization))] : []),
    ...(report.onnx ? [section('ONNX export', onnxSection(report.onnx))] : []),
    section('Training curves', curvesSection(report)),
    section('Throughput', throughputSection(report)),
    section('Where a step went', stepSection(report)),
    section('Data and soft labels', dataSection(report)),
    section('Notices', noticeList(report.notices)),
    section('Configuration', configTable(report.config)),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** The report pages' styles (the sweep page adds its own to them). */
export const REPORT_STYLE = [
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
  'ul.notices{padding-left:20px}ul.notices li{margin:2px 0;white-space:pre-wrap}ul.warnings{padding-left:20px;color:#9a3b00}',
  '.legend span{display:inline-block;margin-right:14px}',
  '.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}',
].join('');

/** The CLI puts the models' names (paths or architecture specs) into the config; a library run may not. */
function modelNames(report: DistillReport): { teacher?: string; student?: string } {
  // An ensemble's teachers are a list: named together.
  const named = (key: string) => {
    const value = report.config[key];
    return typeof value === 'string' ? value : Array.isArray(value) ? value.join(' + ') : undefined;
  };
  const imported = (report.teacher !== null && 'imported' in report.teacher) || typeof report.config.teacherLogits === 'string';
  return { teacher: named('teacher') ?? (imported ? 'imported logits' : undefined), student: named('student') };
}

/**
 * The ranks training ran on, where not every worker: `, student trained on N` when N is fewer than the
 * workers, and `, teacher trained on N` for a teacher the run trained on a count fewer than the workers or
 * other than the student's. Empty when every phase trained on every worker.
 */
export function trainedOnText(report: DistillReport): string {
  const student = report.trainWorkers;
  const teacher = report.phases.find((p) => p.phase === 'teacher')?.workers;
  return [
    student < report.workers ? `, student trained on ${student}` : '',
    teacher !== undefined && (teacher < report.workers || teacher !== student) ? `, teacher trained on ${teacher}` : '',
  ].join('');
}

function runLine(report: DistillReport): string {
  const kernels = report.backend === 'wasm' ? ` (${report.kernels} kernels)` : '';
  const threads = report.kernels === 'openblas' && report.threadsPerWorker > 1 ? ` x ${report.threadsPerWorker} BLAS threads` : '';
  const d = report.data;
  return (
    `backend ${report.backend}${kernels}, ${plural(report.workers, 'worker')}${threads}${trainedOnText(report)}; ` +
    `${count.format(d.trainRows)} training rows ` +
    `(${count.format(d.labeledRows)} labelled), ${count.format(d.testRows)} test rows, ${d.numClasses} classes`
  );
}

// --- the comparison table ------------------------------------------------------------------------------

/** An ensemble teacher's members, each alone on the test rows; empty for a single teacher. */
function ensembleTable(report: DistillReport): string {
  const ensemble = report.teacher && 'params' in report.teacher ? report.teacher.ensemble : undefined;
  if (!ensemble) return '';
  const combined = ensemble.combine === 'logits' ? 'the mean of their logits' : 'the mean of their probabilities at the temperature';
  const rows = ensemble.members.map(
    (member, index) =>
      `<tr data-member="${index}"><td>${esc(member.name)}</td>` +
      `<td class="num" data-metric="accuracy" data-value="${member.accuracy}">${esc(percent(member.accuracy))}</td>` +
      `<td class="num" data-metric="agreement" data-value="${member.agreement}">${esc(percent(member.agreement))}</td></tr>`,
  );
  return [
    `\n<p>The teacher is an ensemble of ${ensemble.members.length} teachers (${esc(combined)}); each alone on the test rows:</p>`,
    '<table class="ensemble">',
    '<thead><tr><th>teacher</th><th class="num">test accuracy</th><th class="num">agreement with the ensemble</th></tr></thead>',
    `<tbody>${rows.join('')}</tbody>`,
    '</table>',
  ].join('\n');
}

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
    ['test macro-F1', 'macroF1', percent, report.teacher?.macroF1, student.macroF1, baseline?.macroF1],
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

function configTable(config: Record<string, unknown>): string {
  // report.json leaves out undefined settings; the page does the same.
  const rows = Object.entries(config)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `<tr><th>${esc(key)}</th><td>${esc(typeof value === 'string' ? value : JSON.stringify(value))}</td></tr>`);
  return `<table class="config">\n${rows.join('\n')}\n</table>`;
}
