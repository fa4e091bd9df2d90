// What a sweep found, in one line each, and the teacher's accuracy on the validation rows (from its labels).
import { LogitTable } from '../data/logit-table.js';
import type { Dataset } from '../data/dataset.js';
import { readNpyFloat32Matrix } from '../data/npy.js';
import { readSoftLabels, softLabelEncoding } from '../data/soft-label-store.js';
import type { LabelResult } from '../labelling/label.js';
import type { DistillConfig } from '../options/options.js';
import type { SweepBaseline, SweepTrial } from './sweep-report.js';

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

/** The settings of a trial as one short phrase: `temperature=2 alpha=0.5`. */
export function settingsText(settings: Record<string, unknown>): string {
  return Object.entries(settings)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

/** The trial with the best validation accuracy (the first of equals); test accuracy plays no part. */
export function chooseBest(trials: readonly SweepTrial[]): number | null {
  let best: SweepTrial | undefined;
  for (const trial of trials) if (!best || trial.validationAccuracy > best.validationAccuracy) best = trial;
  return best?.index ?? null;
}

/**
 * The findings: when the trial chosen on validation does not beat its own baseline there, one line saying
 * so, with the trial that came closest to (or furthest past) its baseline.
 */
export function sweepNotices(trials: SweepTrial[], baselines: SweepBaseline[], best: number | null): string[] {
  if (best === null) return [];
  const chosen = trials[best];
  const ownBaseline = baselines[chosen.baseline];
  if (chosen.validationAccuracy > ownBaseline.validationAccuracy) return [];
  const margin = (trial: SweepTrial) => trial.validationAccuracy - baselines[trial.baseline].validationAccuracy;
  const closest = trials.reduce((a, b) => (margin(b) > margin(a) ? b : a));
  const points = (100 * margin(closest)).toFixed(1);
  return [
    `distillation did not beat the hard-label baseline on validation: the best trial (${settingsText(chosen.settings)}) ` +
      `reached ${percent(chosen.validationAccuracy)} against its baseline's ${percent(ownBaseline.validationAccuracy)}; ` +
      `closest: trial ${closest.index} (${settingsText(closest.settings)}), ${points} points from its baseline`,
  ];
}

/** The teacher's top-1 accuracy on the validation rows, read from the labels it wrote (or the imported logits). */
export async function teacherValidationAccuracy(
  config: DistillConfig,
  labelled: LabelResult | undefined,
  storeFile: string | null,
  data: { train: Dataset },
  rows: Int32Array,
): Promise<number> {
  const { train } = data;
  const table = LogitTable.create(train.y.length, train.numClasses);
  if (storeFile !== null && labelled) {
    const read = await readSoftLabels(storeFile, table, labelled.key, softLabelEncoding(config));
    if (!read.ok) return Number.NaN;
  } else if (config.teacherLogits !== null) {
    table.values.set((await readNpyFloat32Matrix(config.teacherLogits, { rows: table.rows, columns: table.classes })).data);
  } else {
    return Number.NaN;
  }
  const top = table.argmax();
  let hits = 0;
  for (const row of rows) if (top[row] === train.y[row]) hits++;
  return rows.length === 0 ? Number.NaN : hits / rows.length;
}
