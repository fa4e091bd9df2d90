// The table `tfjs-distill sweep` prints at the end: every trial, best on validation first, beside its baseline.
import { settingsText } from './sweep-findings.js';
import type { SweepReport, SweepTrial } from './sweep-report.js';

const percent = (value: number | null) => (value === null || Number.isNaN(value) ? '-' : `${(100 * value).toFixed(1)}%`);

/** One line per finished trial, as the sweep prints them while it runs. */
export function trialLine(trial: SweepTrial, finished: number, total: number, resumed: boolean): string {
  const how = resumed ? 'kept from the earlier sweep' : `${trial.seconds.toFixed(1)} s`;
  return (
    `trial ${finished}/${total} #${trial.index} ${settingsText(trial.settings)}: validation ${percent(trial.validationAccuracy)}, ` +
    `test ${percent(trial.testAccuracy)} (${how})`
  );
}

/** The leaderboard: trials by validation accuracy (the chosen one marked), then the teacher and the findings. */
export function leaderboard(report: SweepReport): string {
  const header = ['', '#', 'settings', 'student', 'val', 'test', 'base val', 'base test', 'agree', 'params', 'ms/row'];
  const order = [...report.trials].sort((a, b) => b.validationAccuracy - a.validationAccuracy || a.index - b.index);
  const rows = order.map((trial) => {
    const baseline = report.baselines[trial.baseline];
    return [
      trial.index === report.best ? '*' : '',
      String(trial.index),
      settingsText(trial.settings),
      trial.student,
      percent(trial.validationAccuracy),
      percent(trial.testAccuracy),
      percent(baseline.validationAccuracy),
      percent(baseline.testAccuracy),
      percent(trial.agreement),
      trial.params.toLocaleString('en-US'),
      trial.latencyMsBatch1.toFixed(3),
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd();
  const { teacher, schedule } = report;
  return [
    line(header),
    ...rows.map(line),
    '',
    `teacher ${teacher.spec}: validation ${percent(teacher.validationAccuracy)}, test ${percent(teacher.testAccuracy)}`,
    `schedule: ${schedule.mode} on ${schedule.workers} worker(s): ${schedule.reason}`,
    ...report.notices,
  ].join('\n');
}
