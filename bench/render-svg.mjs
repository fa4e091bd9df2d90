// The bench report's chart: throughput and parallel efficiency against the worker count.
import { fmt } from './render-format.mjs';
import { seriesKey, withScaling } from './metrics.mjs';

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
