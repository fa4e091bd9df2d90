// Between labelling and distillation: is the teacher any good on the rows whose labels are known? Its logits
// over every training row are in hand by then, so the check costs nothing but a pass over them.
import type { LogitTable } from '../data/logit-table.js';
import type { SharedDataset } from '../data/shared-dataset.js';
import { check } from '../errors.js';
import type { HistoryRecord } from '../progress.js';
import type { TeacherCheckReport, TrainingPhaseReport } from '../reports/report.js';

/**
 * Near chance means an accuracy below chance plus this share of the way from chance to 100%: with 10
 * balanced classes, below 19%; on two balanced classes, below 55%.
 */
export const NEAR_CHANCE_SHARE = 0.1;
/** A teacher this many points (as a fraction) below the baseline on the same held-out rows is warned about. */
export const WEAK_TEACHER_MARGIN = 0.05;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * The teacher's top-1 accuracy on the labelled training rows (its soft labels against their hard labels)
 * and, with a validation split, on the held-out rows; and whether it is near chance. Chance is the larger
 * of 1 / classes and the share of the most common class among those rows (a model that always answers
 * it gets that much). Undefined when no training row is labelled.
 */
export function teacherCheck(
  softLabels: LogitTable,
  train: SharedDataset,
  heldOut: Int32Array | undefined,
): TeacherCheckReport | undefined {
  const rows = train.labeledRows();
  if (rows.length === 0) return undefined;
  const top = softLabels.argmax();
  const counts = new Float64Array(train.numClasses);
  let hits = 0;
  for (const row of rows) {
    counts[train.labels[row]]++;
    if (top[row] === train.labels[row]) hits++;
  }
  const chance = Math.max(1 / train.numClasses, Math.max(...counts) / rows.length);
  const threshold = chance + NEAR_CHANCE_SHARE * (1 - chance);
  const trainAccuracy = hits / rows.length;
  const validationAccuracy = heldOut && heldOut.length > 0 ? accuracyOn(top, train.labels, heldOut) : undefined;
  return { trainAccuracy, rows: rows.length, chance, threshold, nearChance: trainAccuracy < threshold, validationAccuracy };
}

function accuracyOn(top: Int32Array, labels: Int32Array, rows: Int32Array): number {
  let hits = 0;
  for (const row of rows) if (top[row] === labels[row]) hits++;
  return hits / rows.length;
}

/**
 * Stops the run before distilling a teacher near chance (unless allowWeakTeacher): its input almost surely
 * is not what it was trained on, and a student would learn noise. Returns the warning to report when the
 * run goes on regardless.
 */
export function refuseTeacherAtChance(
  found: TeacherCheckReport | undefined,
  options: { allowWeakTeacher: boolean; trainedByRun: boolean; imported: boolean },
): string | undefined {
  if (!found?.nearChance) return undefined;
  const what = options.imported ? "the imported logits' top classes" : "the teacher's top classes";
  const measured =
    `${what} match ${pct(found.trainAccuracy)} of the ${found.rows} labelled training rows, near chance ` +
    `(${pct(found.chance)}; near means below ${pct(found.threshold)})`;
  const causes = options.trainedByRun
    ? 'the teacher the run trained did not learn its labelled rows: give it more epochs (teacherEpochs) or another learning rate'
    : options.imported
      ? 'the logits are likely not in the order of the training rows, or their class order differs from the labels'
      : "the data, the class order, the tokenizer or the preprocessing almost surely do not match the teacher's";
  const named = options.trainedByRun ? ['teacherEpochs', 'allowWeakTeacher'] : ['allowWeakTeacher'];
  check(options.allowWeakTeacher, `${measured}: ${causes}; set allowWeakTeacher to distil it anyway`, named);
  return `${measured}; distilled anyway, as the weak-teacher override asked`;
}

/**
 * A warning when the teacher is well below the baseline: on the held-out rows when the run has a validation
 * split (the baseline's accuracy at its kept epoch), otherwise on the test rows.
 */
export function weakTeacherWarning(
  found: TeacherCheckReport | undefined,
  phases: TrainingPhaseReport[],
  history: HistoryRecord[],
  test: { teacher: number | undefined; baseline: number | undefined },
): string | undefined {
  const kept = phases.find((p) => p.phase === 'baseline')?.selection?.keptEpoch;
  const baselineValidation = history.find(
    (r) => r.kind === 'epoch' && r.phase === 'baseline' && r.epoch === kept && r.validation !== undefined,
  );
  const [teacher, baseline, where] =
    found?.validationAccuracy !== undefined && baselineValidation?.kind === 'epoch'
      ? [found.validationAccuracy, baselineValidation.validation?.accuracy, 'validation']
      : [test.teacher, test.baseline, 'test'];
  if (teacher === undefined || baseline === undefined || teacher >= baseline - WEAK_TEACHER_MARGIN) return undefined;
  return (
    `the teacher is well below the baseline on the ${where} rows (${pct(teacher)} against ${pct(baseline)}): ` +
    'the student learns from a teacher worse than the labels alone; check that the teacher suits this data'
  );
}
