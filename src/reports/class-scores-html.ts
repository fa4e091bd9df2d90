// The report page's "Per-class scores" section: each model's precision, recall and F1 per class on the
// test rows, with its macro-F1, and the teacher's check on the labelled training rows.
import type { ClassificationScores } from '../infer/class-scores.js';
import { DASH, count, esc, percent } from './html-format.js';
import type { DistillReport } from './report.js';

const METRICS = ['precision', 'recall', 'f1'] as const;
const METRIC_TITLES = { precision: 'precision', recall: 'recall', f1: 'F1' };

/** The models with per-class scores, in the comparison table's order. */
function scoredModels(report: DistillReport): [string, ClassificationScores][] {
  const models: [string, ClassificationScores | null | undefined][] = [
    ['teacher', report.teacher],
    ['student', report.student],
    ['baseline', report.baseline],
  ];
  return models.filter((m): m is [string, ClassificationScores] => m[1] != null && Array.isArray(m[1].perClass));
}

/** A score cell, marked with its model, class and metric so a test can read the page as a browser renders it. */
function cell(model: string, c: number, metric: string, value: number): string {
  return `<td class="num" data-model="${model}" data-class="${c}" data-metric="${metric}" data-value="${value}">${esc(percent(value))}</td>`;
}

/** One row per class (support, then each model's precision, recall and F1), and a macro-F1 row. */
export function classScoresSection(report: DistillReport): string {
  const models = scoredModels(report);
  if (models.length === 0) return '<p class="muted">No model was evaluated per class.</p>';
  const { perClass } = models[0][1];
  const name = (c: number) => report.data.classes?.[c] ?? `class ${c}`;
  const rows = perClass.map(
    (scores, c) =>
      `<tr><th>${esc(name(c))}</th><td class="num" data-class="${c}" data-metric="support">${count.format(scores.support)}</td>` +
      models.flatMap(([model, s]) => METRICS.map((metric) => cell(model, c, metric, s.perClass[c][metric]))).join('') +
      '</tr>',
  );
  const macro =
    `<tr class="macro"><th>macro-F1</th><td class="num">${DASH}</td>` +
    models
      .map(
        ([model, s]) =>
          `<td></td><td></td><td class="num" data-model="${model}" data-metric="macroF1" data-value="${s.macroF1}">${esc(percent(s.macroF1))}</td>`,
      )
      .join('') +
    '</tr>';
  return [
    '<table class="class-scores">',
    `<thead><tr><th rowspan="2">class</th><th class="num" rowspan="2">test rows</th>${models
      .map(([model]) => `<th class="num" colspan="3">${model}</th>`)
      .join('')}</tr>`,
    `<tr>${models.map(() => METRICS.map((metric) => `<th class="num">${METRIC_TITLES[metric]}</th>`).join('')).join('')}</tr></thead>`,
    `<tbody>${rows.join('\n')}\n${macro}</tbody>`,
    '</table>',
    '<p class="muted">Precision: of the test rows a model assigns to the class, the share that belong to it (0 when it assigns ' +
      'none). Recall: of the rows of the class, the share it finds. Macro-F1: the mean F1 over the classes, so a rare class ' +
      'counts as much as a common one.</p>',
    ...teacherCheckLines(report),
  ].join('\n');
}

function teacherCheckLines(report: DistillReport): string[] {
  const found = report.teacherCheck;
  if (!found) return [];
  const validation = found.validationAccuracy !== undefined ? `, ${percent(found.validationAccuracy)} of the validation rows` : '';
  return [
    `<p class="teacher-check" data-value="${found.trainAccuracy}">Before distilling, the teacher's soft labels matched ` +
      `${esc(percent(found.trainAccuracy))} of the ${count.format(found.rows)} labelled training rows${esc(validation)}; ` +
      `chance is ${esc(percent(found.chance))}, and below ${esc(percent(found.threshold))} the run stops unless ` +
      'allowWeakTeacher (--allow-weak-teacher) is set.</p>',
  ];
}

/** The run's warnings about its models, or nothing. */
export function warningsList(report: DistillReport): string {
  if (report.warnings.length === 0) return '';
  return `<ul class="warnings">\n${report.warnings.map((w) => `<li>${esc(`warning: ${w}`)}</li>`).join('\n')}\n</ul>`;
}
