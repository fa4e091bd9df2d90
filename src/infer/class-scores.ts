/** One class's scores on the test rows, one-vs-rest. */
export interface ClassScores {
  /** Of the rows predicted as this class, the fraction that are (0 when none is predicted as it). */
  precision: number;
  /** Of the rows of this class, the fraction predicted as it (0 when the test rows hold none). */
  recall: number;
  /** The harmonic mean of precision and recall (0 when both are 0). */
  f1: number;
  /** Test rows of this class. */
  support: number;
  /** Test rows predicted as this class. */
  predicted: number;
}

/** How a model did per class on the test rows, and the mean F1 over the classes. */
export interface ClassificationScores {
  /**
   * The unweighted mean of the per-class F1 over the classes that occur in the test labels or the
   * predictions (as scikit-learn's `f1_score(average='macro')`): a class that is rare counts as much as
   * one that is common, so a model that ignores a minority class scores low even when its accuracy is high.
   */
  macroF1: number;
  /** Per class, in class-index order. */
  perClass: ClassScores[];
}

/** Per-class precision, recall and F1 of top-1 predictions against the labels, and their macro-F1. */
export function classificationScores(predictions: Int32Array, labels: Int32Array, numClasses: number): ClassificationScores {
  const hits = new Float64Array(numClasses);
  const support = new Float64Array(numClasses);
  const predicted = new Float64Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    support[labels[i]]++;
    predicted[predictions[i]]++;
    if (predictions[i] === labels[i]) hits[labels[i]]++;
  }
  const perClass: ClassScores[] = [];
  let f1Sum = 0;
  let present = 0;
  for (let c = 0; c < numClasses; c++) {
    const precision = predicted[c] > 0 ? hits[c] / predicted[c] : 0;
    const recall = support[c] > 0 ? hits[c] / support[c] : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ precision, recall, f1, support: support[c], predicted: predicted[c] });
    // A class neither in the labels nor predicted says nothing about the model: it stays out of the mean.
    if (support[c] > 0 || predicted[c] > 0) {
      f1Sum += f1;
      present++;
    }
  }
  return { macroF1: present > 0 ? f1Sum / present : 0, perClass };
}

/** The class with the lowest F1 among those in the test labels (the first of equals), or undefined when none is. */
export function weakestClass(scores: ClassificationScores): number | undefined {
  let weakest: number | undefined;
  scores.perClass.forEach((s, c) => {
    if (s.support > 0 && (weakest === undefined || s.f1 < scores.perClass[weakest].f1)) weakest = c;
  });
  return weakest;
}
