// The sweep page's leaderboard: one row per trial, sortable by any column with a click on its header.
import { DASH, bytes, count, esc, ms, percent, signed } from '../reports/html-format.js';
import type { SweepBaseline, SweepReport, SweepTrial } from './sweep-report.js';

/** A setting's value as the page prints it: strings as they are, anything else as JSON. */
export function settingText(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
}

/** The settings keys of the sweep's columns: the grid's in its order, then any others a trial set. */
function settingKeys(report: SweepReport): string[] {
  const keys = [...Object.keys(report.grid), ...report.trials.flatMap((t) => Object.keys(t.settings))];
  return keys.filter((key, i) => keys.indexOf(key) === i);
}

/** A leaderboard column: its header, how it sorts, and each trial's cell. */
interface Column {
  key: string;
  title: string;
  /** Numbers sort by value; text sorts naturally (`mlp:16` before `mlp:128`). */
  type: 'number' | 'text';
  /** The first click's direction: better first (high accuracy, small size). */
  first: 'asc' | 'desc';
  /** The value it sorts by (null: none, always last) and the text shown. */
  cell: (trial: SweepTrial, baseline: SweepBaseline | undefined) => { value: number | string | null; text: string };
}

const metric = (
  key: string,
  title: string,
  first: 'asc' | 'desc',
  value: (t: SweepTrial, b: SweepBaseline | undefined) => number | null | undefined,
  format: (v: number) => string,
): Column => ({
  key,
  title,
  type: 'number',
  first,
  cell: (t, b) => {
    const v = value(t, b);
    return v === null || v === undefined || !Number.isFinite(v) ? { value: null, text: DASH } : { value: v, text: format(v) };
  },
});

/** A gain over the baseline, in points; a loss shows with a minus sign. */
const gain = (trial: number, baseline: number | undefined) => (baseline === undefined ? null : 100 * (trial - baseline));

function columns(report: SweepReport): Column[] {
  const settings = settingKeys(report).map((key): Column => {
    const values = report.trials.map((t) => t.settings[key]).filter((v) => v !== undefined);
    const numbers = values.length > 0 && values.every((v) => typeof v === 'number' && Number.isFinite(v));
    return {
      key: `settings.${key}`,
      title: key,
      type: numbers ? 'number' : 'text',
      first: 'asc',
      cell: (t) => {
        const v = t.settings[key];
        return v === undefined ? { value: null, text: DASH } : { value: numbers ? (v as number) : settingText(v), text: settingText(v) };
      },
    };
  });
  return [
    metric('index', '#', 'asc', (t) => t.index, String),
    ...settings,
    metric('validationAccuracy', 'validation', 'desc', (t) => t.validationAccuracy, percent),
    metric('testAccuracy', 'test', 'desc', (t) => t.testAccuracy, percent),
    metric('agreement', 'agreement', 'desc', (t) => t.agreement, percent),
    metric('params', 'params', 'asc', (t) => t.params, count.format),
    metric('bytes', 'size', 'asc', (t) => t.bytes, bytes),
    metric('latencyMsBatch1', 'latency', 'asc', (t) => t.latencyMsBatch1, ms),
    metric('baselineValidation', 'baseline', 'desc', (_, b) => b?.validationAccuracy, percent),
    metric(
      'gainValidation',
      'gain, val.',
      'desc',
      (t, b) => gain(t.validationAccuracy, b?.validationAccuracy),
      (v) => signed(-v),
    ),
    metric(
      'gainTest',
      'gain, test',
      'desc',
      (t, b) => gain(t.testAccuracy, b?.testAccuracy),
      (v) => signed(-v),
    ),
  ];
}

/** Where a trial's folder's report.html is, relative to OUT/sweep.html; each segment is encoded, so it stays a path. */
function reportLink(folder: string): string {
  const segments = folder.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  return [...segments.map(encodeURIComponent), 'report.html'].join('/');
}

/** The page's default order: by validation accuracy, the measure that chose the best trial, then by index. */
const byValidation = (a: SweepTrial, b: SweepTrial) => b.validationAccuracy - a.validationAccuracy || a.index - b.index;

/** The leaderboard table, sorted by validation accuracy, with the best trial marked. */
export function leaderboardTable(report: SweepReport): string {
  if (report.trials.length === 0) return '<p class="muted">No trial finished, so there is nothing to rank.</p>';
  const cols = columns(report);
  const best = report.best === null ? undefined : report.trials[report.best];
  const header = cols.map(
    (c) =>
      `<th${c.type === 'number' ? ' class="num"' : ''} data-column="${esc(c.key)}" data-sort="${c.type}" data-first="${c.first}" ` +
      `aria-sort="${c.key === 'validationAccuracy' ? 'descending' : 'none'}"><button type="button">${esc(c.title)}</button></th>`,
  );
  const rows = [...report.trials].sort(byValidation).map((trial) => {
    const baseline = report.baselines[trial.baseline];
    const cells = cols.map((c) => {
      const { value, text } = c.cell(trial, baseline);
      const title = c.key === 'baselineValidation' && baseline ? ` title="${esc(`baseline ${baseline.student}`)}"` : '';
      const mark =
        c.key === 'index' && trial === best ? ' <span class="best-mark" title="chosen on validation accuracy">★ best</span>' : '';
      return (
        `<td${c.type === 'number' ? ' class="num"' : ''} data-column="${esc(c.key)}" data-sort-value="${esc(value ?? '')}"${title}>` +
        `${esc(text)}${mark}</td>`
      );
    });
    const link = `<td><a href="${esc(reportLink(trial.folder))}">${esc(trial.folder)}</a></td>`;
    return `<tr data-trial="${trial.index}"${trial === best ? ' class="best"' : ''}>${cells.join('')}${link}</tr>`;
  });
  return [
    '<table class="leaderboard">',
    `<thead><tr>${header.join('')}<th>report</th></tr></thead>`,
    `<tbody>\n${rows.join('\n')}\n</tbody>`,
    '</table>',
    '<p class="muted">Sorted by validation accuracy, which chose the best trial; test accuracy is measured and shown, ' +
      "never used to choose. Baseline: the validation accuracy of the trial's architecture trained on the hard labels " +
      "alone (same budget and seed); a gain is the trial's accuracy less its baseline's, in points. Latency: per row, " +
      'batch 1. Click a column header to sort by it, again to reverse.</p>',
  ].join('\n');
}

/**
 * Sorts the leaderboard when a column header is clicked: by the cells' data-sort-value, numbers by value and
 * text in natural order, missing values last, ties by trial index. It runs under a CSP that admits this
 * script alone (by its hash), so it attaches listeners rather than using inline handlers.
 */
export const LEADERBOARD_SCRIPT = `(() => {
  const table = document.querySelector('table.leaderboard');
  if (!table) return;
  const body = table.tBodies[0];
  const headers = [...table.tHead.rows[0].cells];
  const trial = (row) => Number(row.dataset.trial);
  const key = (row, column, type) => {
    const value = row.cells[column].dataset.sortValue;
    if (value === undefined || value === '') return null;
    return type === 'number' ? Number(value) : value;
  };
  const sortBy = (column, direction) => {
    const type = headers[column].dataset.sort;
    const sign = direction === 'asc' ? 1 : -1;
    const rows = [...body.rows];
    rows.sort((a, b) => {
      const x = key(a, column, type);
      const y = key(b, column, type);
      if (x === null || y === null) return (x === null) - (y === null) || trial(a) - trial(b);
      const order = type === 'number' ? x - y : x.localeCompare(y, 'en', { numeric: true });
      return sign * order || trial(a) - trial(b);
    });
    body.append(...rows);
    headers.forEach((header, i) => {
      if (header.dataset.sort) header.setAttribute('aria-sort', i !== column ? 'none' : direction === 'asc' ? 'ascending' : 'descending');
    });
  };
  headers.forEach((header, column) => {
    if (!header.dataset.sort) return;
    header.querySelector('button').addEventListener('click', () => {
      const now = header.getAttribute('aria-sort');
      sortBy(column, now === 'descending' ? 'asc' : now === 'ascending' ? 'desc' : header.dataset.first);
    });
  });
})();`;

/** The baselines, each with the trials of its architecture and how the best of them compares. */
export function baselinesTable(report: SweepReport): string {
  if (report.baselines.length === 0) return '<p class="muted">This sweep trained no baselines.</p>';
  const rows = report.baselines.map((b, i) => {
    const own = report.trials.filter((t) => t.baseline === i);
    const top = [...own].sort(byValidation)[0];
    const versus = top
      ? `#${top.index}: ${signed(100 * (b.validationAccuracy - top.validationAccuracy))} validation, ` +
        `${signed(100 * (b.testAccuracy - top.testAccuracy))} test`
      : DASH;
    return (
      `<tr data-baseline="${i}"><th>${esc(b.student)}</th><td class="num">${percent(b.validationAccuracy)}</td>` +
      `<td class="num">${percent(b.testAccuracy)}</td><td class="num">${count.format(b.params)}</td>` +
      `<td class="num">${esc(bytes(b.bytes))}</td><td class="num">${esc(ms(b.latencyMsBatch1))}</td>` +
      `<td class="num">${own.length}</td><td>${esc(versus)}</td><td><a href="${esc(reportLink(b.folder))}">${esc(b.folder)}</a></td></tr>`
    );
  });
  return [
    '<table class="baselines">',
    '<thead><tr><th>student</th><th class="num">validation</th><th class="num">test</th><th class="num">params</th>' +
      '<th class="num">size</th><th class="num">latency, batch 1</th><th class="num">trials</th>' +
      '<th>best of its trials on validation (gain, points)</th><th>report</th></tr></thead>',
    `<tbody>\n${rows.join('\n')}\n</tbody>`,
    '</table>',
    '<p class="muted">Each baseline is its architecture trained on the hard labels alone, with the same budget and seed as its trials.</p>',
  ].join('\n');
}
