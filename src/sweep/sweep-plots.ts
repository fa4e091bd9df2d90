// The sweep page's scatter plots: test accuracy against size (log scale) and against batch-1 latency, with
// the Pareto front as a step line, the teacher as a reference line, baselines and the best trial marked.
import { niceTicks, tickLabels } from '../reports/curves-html.js';
import { bytes, esc, ms, percent, plural, swatch } from '../reports/html-format.js';
import { paretoFront } from './pareto.js';
import { settingText } from './sweep-leaderboard.js';
import type { SweepModelResult, SweepReport } from './sweep-report.js';

/** What a plot puts on its x axis. */
interface Measure {
  key: 'bytes' | 'latency';
  title: string;
  value: (m: SweepModelResult) => number;
  log: boolean;
  format: (v: number) => string;
}

const MEASURES: Measure[] = [
  { key: 'bytes', title: 'size (float32 weights, log scale)', value: (m) => m.bytes, log: true, format: bytes },
  { key: 'latency', title: 'latency per row, batch 1', value: (m) => m.latencyMsBatch1, log: false, format: ms },
];

/** A trial or a baseline as a plot shows it: `t3` is trials[3], `b1` is baselines[1]. */
interface Model {
  id: string;
  kind: 'trial' | 'baseline';
  position: number;
  result: SweepModelResult;
  label: string;
}

const COLORS = { trial: '#1f5fbf', baseline: '#b35c00', best: '#1a7f37', front: '#8250df', teacher: '#59636e' };
const PLOT = { width: 560, height: 360, left: 60, right: 18, top: 28, bottom: 44 };
const f = (v: number) => v.toFixed(1);

function models(report: SweepReport): Model[] {
  return [
    ...report.trials.map((t, i): Model => {
      const settings = Object.entries(t.settings).map(([k, v]) => `${k} ${settingText(v)}`);
      return { id: `t${i}`, kind: 'trial', position: i, result: t, label: `#${t.index}: ${settings.join(', ') || t.student}` };
    }),
    ...report.baselines.map(
      (b, i): Model => ({ id: `b${i}`, kind: 'baseline', position: i, result: b, label: `baseline ${b.student} (hard labels)` }),
    ),
  ];
}

/** Round values covering [lo, hi] on a log axis: 1, 2 and 5 times powers of ten, or every digit when those are too few. */
function logTicks(lo: number, hi: number): number[] {
  const within = (steps: number[]) => {
    const ticks: number[] = [];
    for (let power = Math.floor(Math.log10(lo)); power <= Math.ceil(Math.log10(hi)); power++) {
      for (const step of steps) {
        const tick = Number((step * 10 ** power).toPrecision(12));
        if (tick >= lo && tick <= hi) ticks.push(tick);
      }
    }
    return ticks;
  };
  const coarse = within([1, 2, 5]);
  return coarse.length >= 3 ? coarse : within([1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

/** The x axis: a mapping from a value to pixels, and its ticks. */
function xAxis(values: number[], measure: Measure): { px: (v: number) => number; ticks: number[]; labels: string[] } {
  const { width, left, right } = PLOT;
  const span = width - left - right;
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  if (measure.log) {
    // A margin either side, so no point sits on an edge.
    const pad = Math.max(0.08 * (Math.log10(hi) - Math.log10(lo)), 0.1);
    const [d0, d1] = [Math.log10(lo) - pad, Math.log10(hi) + pad];
    const ticks = logTicks(10 ** d0, 10 ** d1);
    return { px: (v) => left + ((Math.log10(v) - d0) / (d1 - d0)) * span, ticks, labels: ticks.map(measure.format) };
  }
  const ticks = niceTicks(lo, hi, 5, false).filter((t) => t >= 0);
  const [d0, d1] = [Math.min(lo, ticks[0]), Math.max(hi, ticks[ticks.length - 1])];
  // Latencies of small students are microseconds; the axis reads in the unit its largest tick needs.
  const micro = ticks[ticks.length - 1] < 0.1;
  const labels = tickLabels(micro ? ticks.map((t) => 1000 * t) : ticks).map((t) => `${t} ${micro ? 'µs' : 'ms'}`);
  return { px: (v) => left + ((v - d0) / (d1 - d0)) * span, ticks, labels };
}

/** The y axis: accuracy, with round percentages, never outside [0, 1]. */
function yAxis(values: number[]): { py: (v: number) => number; ticks: number[]; labels: string[] } {
  const { height, top, bottom } = PLOT;
  let ticks = niceTicks(Math.min(...values), Math.max(...values), 4, false).filter((t) => t >= 0 && t <= 1);
  if (ticks.length < 2) ticks = [0, 0.5, 1];
  const [d0, d1] = [ticks[0], ticks[ticks.length - 1]];
  const py = (v: number) => height - bottom - ((v - d0) / (d1 - d0)) * (height - top - bottom);
  return { py, ticks, labels: tickLabels(ticks.map((t) => 100 * t)).map((t) => `${t}%`) };
}

/** One scatter plot of test accuracy against a measure, or a note when nothing can be plotted. */
function scatterPlot(report: SweepReport, measure: Measure): string {
  const plotted = models(report).filter((m) => {
    const x = measure.value(m.result);
    return Number.isFinite(m.result.testAccuracy) && Number.isFinite(x) && (measure.log ? x > 0 : x >= 0);
  });
  const missing = report.trials.length + report.baselines.length - plotted.length;
  const note = missing > 0 ? `<p class="muted">${plural(missing, 'model')} without a usable ${measure.key} left out.</p>` : '';
  if (plotted.length === 0) return `<p class="muted">No model has a ${measure.key} to plot.</p>`;
  const teacher = report.teacher.testAccuracy;
  const hasTeacher = Number.isFinite(teacher);
  const {
    px,
    ticks: xTicks,
    labels: xLabels,
  } = xAxis(
    plotted.map((m) => measure.value(m.result)),
    measure,
  );
  const accuracies = plotted.map((m) => m.result.testAccuracy);
  const { py, ticks: yTicks, labels: yLabels } = yAxis(hasTeacher ? [...accuracies, teacher] : accuracies);
  const at = (m: Model) => ({ x: px(measure.value(m.result)), y: py(m.result.testAccuracy) });
  const { width, height, left, right, top, bottom } = PLOT;

  const front = paretoFront(plotted.map((m) => ({ size: measure.value(m.result), accuracy: m.result.testAccuracy }))).map(
    (i) => plotted[i],
  );
  // A step line: across at a front point's accuracy to the next point's size, then up to its accuracy.
  const steps = front.flatMap((m, i) => {
    const p = at(m);
    const next = front[i + 1];
    return next ? [p, { x: at(next).x, y: p.y }] : [p];
  });
  const best = report.best === null ? undefined : plotted.find((m) => m.kind === 'trial' && m.position === report.best);
  const title = `test accuracy against ${measure.title}`;
  return [
    `<svg class="chart sweep-plot" data-plot="${measure.key}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `role="img" aria-label="${esc(title)}">`,
    `<title>${esc(title)}</title>`,
    `<text class="title" x="${left}" y="16">${esc(title)}</text>`,
    ...yTicks.map(
      (t, i) =>
        `<line class="grid" x1="${left}" x2="${width - right}" y1="${f(py(t))}" y2="${f(py(t))}"/>` +
        `<text x="${left - 6}" y="${f(py(t) + 4)}" text-anchor="end">${esc(yLabels[i])}</text>`,
    ),
    ...xTicks.map(
      (t, i) =>
        `<line class="axis" x1="${f(px(t))}" x2="${f(px(t))}" y1="${height - bottom}" y2="${height - bottom + 4}"/>` +
        `<text x="${f(px(t))}" y="${height - bottom + 16}" text-anchor="middle">${esc(xLabels[i])}</text>`,
    ),
    `<line class="axis" x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}"/>`,
    `<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}"/>`,
    `<text x="${f((left + width - right) / 2)}" y="${height - 6}" text-anchor="middle">${esc(measure.title)}</text>`,
    ...(hasTeacher ? [teacherLine(report, py(teacher))] : []),
    `<polyline class="front" data-front="${front.map((m) => m.id).join(' ')}" points="${steps.map((p) => `${f(p.x)},${f(p.y)}`).join(' ')}" ` +
      `fill="none" stroke="${COLORS.front}" stroke-width="1.5" stroke-linejoin="round"/>`,
    ...(best ? [bestMarker(at(best))] : []),
    ...plotted.map((m) => marker(m, at(m), measure, front.includes(m))),
    '</svg>',
    note,
  ].join('\n');
}

function teacherLine(report: SweepReport, y: number): string {
  const { width, left, right } = PLOT;
  const text = `teacher ${report.teacher.spec}: ${percent(report.teacher.testAccuracy)}`;
  return (
    `<line class="teacher" data-value="${report.teacher.testAccuracy}" x1="${left}" x2="${width - right}" y1="${f(y)}" y2="${f(y)}" ` +
    `stroke="${COLORS.teacher}" stroke-width="1.5" stroke-dasharray="6 4"><title>${esc(text)}</title></line>` +
    `<text class="teacher-label" x="${width - right - 4}" y="${f(y - 5)}" text-anchor="end">${esc(text)}</text>`
  );
}

function bestMarker(p: { x: number; y: number }): string {
  return (
    `<circle class="best-marker" cx="${f(p.x)}" cy="${f(p.y)}" r="9" fill="none" stroke="${COLORS.best}" stroke-width="2.5"/>` +
    `<text x="${f(p.x + 12)}" y="${f(p.y - 8)}" fill="${COLORS.best}">best</text>`
  );
}

/** A trial's dot or a baseline's diamond, with its tooltip. */
function marker(m: Model, p: { x: number; y: number }, measure: Measure, onFront: boolean): string {
  const r = m.result;
  const tooltip =
    `${m.label}\ntest ${percent(r.testAccuracy)}, validation ${percent(r.validationAccuracy)}\n` +
    `${measure.format(measure.value(r))}${onFront ? ', on the Pareto front' : ''}`;
  const common = `data-${m.kind}="${m.position}" data-front="${onFront}"`;
  if (m.kind === 'trial') {
    return (
      `<circle class="trial" ${common} cx="${f(p.x)}" cy="${f(p.y)}" r="4.5" fill="${COLORS.trial}" fill-opacity="0.75" ` +
      `stroke="#fff" stroke-width="1"><title>${esc(tooltip)}</title></circle>`
    );
  }
  const d = 6.5;
  const points = [
    [p.x, p.y - d],
    [p.x + d, p.y],
    [p.x, p.y + d],
    [p.x - d, p.y],
  ];
  return (
    `<polygon class="baseline" ${common} points="${points.map(([x, y]) => `${f(x)},${f(y)}`).join(' ')}" fill="${COLORS.baseline}" ` +
    `stroke="#fff" stroke-width="1"><title>${esc(tooltip)}</title></polygon>` +
    `<text class="baseline-label" x="${f(p.x + 9)}" y="${f(p.y + 14)}" fill="${COLORS.baseline}">${esc(r.student)}</text>`
  );
}

/** Both plots, side by side, with their legend. */
export function plotsSection(report: SweepReport): string {
  if (report.trials.length + report.baselines.length === 0) return '<p class="muted">No model finished, so there is nothing to plot.</p>';
  const legend = [
    [COLORS.trial, 'trial (distilled)'],
    [COLORS.baseline, 'baseline (hard labels), labelled with its student'],
    [COLORS.best, 'best trial (chosen on validation)'],
    [COLORS.front, 'Pareto front: no other model is as small and more accurate'],
    [COLORS.teacher, 'teacher (dashed)'],
  ];
  return [
    `<div class="charts">${MEASURES.map((measure) => `<div>${scatterPlot(report, measure)}</div>`).join('\n')}</div>`,
    `<p class="legend">${legend.map(([color, text]) => `<span>${swatch(color)}${esc(text)}</span>`).join('')}</p>`,
    '<p class="muted">Accuracy here is on the test rows, over trials and baselines together; hover over a point for its settings. ' +
      'The front is drawn from test accuracy to show what each size buys; the best trial was chosen on validation accuracy.</p>',
  ].join('\n');
}
