/**
 * The distillation defaults that depend on how much of the training data is labelled, as the library lists
 * them. They are declared on the temperature and alpha options (`default` and `defaultWhen.mostlyLabelled`),
 * and the threshold and its reason in ./default-conditions.ts; this file only reads them back.
 */
import { LABELLED_SHARE_FOR_LABEL_DEFAULTS, isMostlyLabelled } from './default-conditions.js';
import { OPTION_SCHEMA } from './resolve.js';

export { LABELLED_SHARE_FOR_LABEL_DEFAULTS };

/** A run's temperature and alpha defaults under one labelled share. */
export interface DistillationDefaults {
  readonly temperature: number;
  readonly alpha: number;
}

const { temperature, alpha } = OPTION_SCHEMA;

/** The temperature and alpha a run takes when it is not given them: with few labels, and with most rows labelled. */
export const DISTILLATION_DEFAULTS: Readonly<{ fewLabels: DistillationDefaults; mostLabelled: DistillationDefaults }> = {
  fewLabels: { temperature: temperature.default, alpha: alpha.default },
  mostLabelled: { temperature: temperature.defaultWhen.mostlyLabelled, alpha: alpha.defaultWhen.mostlyLabelled },
};

/**
 * The defaults of a run whose training rows have labels `labels` (-1: none), of which the student keeps the
 * first `labeled` (null: all): by the share of training rows with a label it keeps.
 */
export function distillationDefaults(labels: ArrayLike<number> | undefined, labeled: number | null | undefined): DistillationDefaults {
  return isMostlyLabelled(labels, labeled) ? DISTILLATION_DEFAULTS.mostLabelled : DISTILLATION_DEFAULTS.fewLabels;
}
