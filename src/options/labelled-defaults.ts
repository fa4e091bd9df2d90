// The distillation defaults that depend on how much of the training data is labelled. With a transfer set
// (few labels), the teacher's soft labels are most of what the student learns from: a soft target (T 4) and
// a heavy weight on it (alpha 0.9). With most rows labelled, the hard labels already carry what the teacher
// would say, and the sweeps in docs/sweep-results.md found that soft, teacher-weighted objective pulling
// students below their hard-label baselines, where a sharp target weighed evenly with the labels did not.

/** From this share of labelled training rows up, a run takes the defaults for rows with labels. */
export const LABELLED_SHARE_FOR_LABEL_DEFAULTS = 0.5;

/** The temperature and alpha a run takes when it is not given them: with few labels, and with most rows labelled. */
export const DISTILLATION_DEFAULTS = {
  fewLabels: { temperature: 4, alpha: 0.9 },
  mostLabelled: { temperature: 1, alpha: 0.5 },
} as const;

/** How the help and the options reference show a default that depends on the labelled share. */
export const byLabelledShare = (key: 'temperature' | 'alpha') =>
  `${DISTILLATION_DEFAULTS.fewLabels[key]}; ${DISTILLATION_DEFAULTS.mostLabelled[key]} when at least ` +
  `${LABELLED_SHARE_FOR_LABEL_DEFAULTS * 100}% of the training rows keep their labels`;

/**
 * The defaults of a run whose training rows have labels `labels` (-1: none), of which the student keeps the
 * first `labeled` (null: all): by the share of training rows with a label it keeps.
 */
export function distillationDefaults(labels: ArrayLike<number> | undefined, labeled: number | null | undefined) {
  if (labels === undefined || labels.length === 0) return DISTILLATION_DEFAULTS.fewLabels;
  const end = labeled === null || labeled === undefined ? labels.length : Math.min(labeled, labels.length);
  let kept = 0;
  for (let row = 0; row < end; row++) if (labels[row] >= 0) kept++;
  return kept / labels.length >= LABELLED_SHARE_FOR_LABEL_DEFAULTS ? DISTILLATION_DEFAULTS.mostLabelled : DISTILLATION_DEFAULTS.fewLabels;
}
