// The report page's training curves: per phase, one inline SVG line chart per series of its epoch records.
import type { EpochRecord, HistoryRecord, TrainingPhase } from '../progress.js';
import type { DistillReport } from './report.js';
import { PHASE_TITLES, count, esc, percent, plural } from './html-format.js';

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

/** Per training phase, a chart of each series its epochs recorded. */
export function curvesSection(report: DistillReport): string {
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
export function niceTicks(lo: number, hi: number, intervals: number, integer: boolean): number[] {
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
export function tickLabels(ticks: number[]): string[] {
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
