import { createHash } from 'node:crypto';
import { DASH, bytes, count, esc, noticeList, percent, plural, section } from '../reports/html-format.js';
import { REPORT_STYLE } from '../reports/report-html.js';
import { LEADERBOARD_SCRIPT, baselinesTable, leaderboardTable, settingText } from './sweep-leaderboard.js';
import { plotsSection } from './sweep-plots.js';
import type { SweepReport } from './sweep-report.js';

/**
 * The sweep as one self-contained HTML page (OUT/sweep.html): what was swept and how, the notices, a
 * leaderboard of the trials that sorts by any column, and test accuracy plotted against size and against
 * latency with the Pareto front, the teacher and the baselines. Charts are inline SVG and styles inline;
 * the one script is the leaderboard's sorting, inline, and the page's Content-Security-Policy admits it by
 * its hash and nothing else, so the page loads nothing and opens offline. Pure: the same report gives the
 * same bytes.
 */
export function sweepHtml(report: SweepReport): string {
  const title = `tfjs-distill sweep: ${plural(report.trials.length, 'trial')} distilled from ${report.teacher.spec}`;
  const scriptHash = createHash('sha256').update(LEADERBOARD_SCRIPT).digest('base64');
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing may be fetched, and no script runs but the leaderboard's own.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${scriptHash}'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${REPORT_STYLE}${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${esc(title)}</h1>`,
    summaryTable(report),
    section('Notices', noticeList(report.notices)),
    section('Leaderboard', leaderboardTable(report)),
    section('Accuracy against size and latency', plotsSection(report)),
    section('Baselines', baselinesTable(report)),
    `<script>${LEADERBOARD_SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

const STYLE = [
  'table.leaderboard th button{all:unset;cursor:pointer}table.leaderboard th button:focus-visible{outline:2px solid #1f5fbf}',
  'table.leaderboard th[aria-sort="ascending"] button::after{content:" ▲"}',
  'table.leaderboard th[aria-sort="descending"] button::after{content:" ▼"}',
  'table.leaderboard tr.best{background:#eef8f0}.best-mark{color:#1a7f37;font-weight:600;white-space:nowrap}',
  'table.leaderboard{font-size:13px}table.leaderboard th,table.leaderboard td{padding:4px 6px;white-space:nowrap}',
  'table.summary th{white-space:nowrap}svg .teacher-label,svg .baseline-label{font-size:10px}',
].join('');

/** The header: the teacher, the rows, the grid, how the trials were scheduled, the labelling and the best trial. */
function summaryTable(report: SweepReport): string {
  const { teacher, rows, schedule, labelling } = report;
  const teacherSize = [
    ...(teacher.params !== null ? [`${count.format(teacher.params)} params`] : []),
    ...(teacher.bytes !== null ? [bytes(teacher.bytes)] : []),
  ];
  const grid = Object.entries(report.grid).map(([key, values]) => `${key}: ${values.map(settingText).join(', ')}`);
  const sampled =
    report.trials.length < report.gridPoints
      ? `${plural(report.trials.length, 'trial')} sampled from its ${plural(report.gridPoints, 'point')}`
      : `${plural(report.gridPoints, 'point')}, every one a trial`;
  const best = report.best === null ? undefined : report.trials[report.best];
  const entries: [string, string, string][] = [
    [
      'teacher',
      'teacher',
      `${teacher.spec}: test ${percent(teacher.testAccuracy)}, validation ${percent(teacher.validationAccuracy)}` +
        (teacherSize.length > 0 ? ` (${teacherSize.join(', ')})` : ''),
    ],
    [
      'rows',
      'rows',
      `${count.format(rows.train)} training (${count.format(rows.labeled)} labelled), ${count.format(rows.validation)} ` +
        `validation (held out of the training rows), ${count.format(rows.test)} test`,
    ],
    ['grid', 'grid', `${grid.join('; ') || DASH} (${sampled})`],
    ['schedule', 'schedule', `${schedule.mode}, ${plural(schedule.workers, 'worker')}: ${schedule.reason}`],
    [
      'labelling',
      'labelling',
      `once, in ${labelling.seconds.toFixed(1)} s, ${labelling.storeFile ? `into ${labelling.storeFile}` : 'kept in memory'}; every trial read it`,
    ],
    [
      'best trial',
      'best',
      best
        ? `#${best.index}: ${Object.entries(best.settings)
            .map(([k, v]) => `${k} ${settingText(v)}`)
            .join(', ')}; validation ${percent(best.validationAccuracy)}, test ${percent(best.testAccuracy)}; ` +
          'its student is best/student/'
        : 'none was chosen',
    ],
  ];
  return [
    '<table class="summary">',
    ...entries.map(([label, key, text]) => `<tr data-summary="${key}"><th>${esc(label)}</th><td>${esc(text)}</td></tr>`),
    '</table>',
  ].join('\n');
}
