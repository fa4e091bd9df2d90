/**
 * The conditions on a run's training data under which an option takes another default. An option states
 * them beside its default (`defaultWhen` in ./schema.ts); resolving works them out once per run, and --help
 * and docs/options.md word them with one formatter, so each condition is declared here and nowhere else.
 */
import type { Dataset } from '../data/dataset.js';

/** What is true of a run's training data, for the defaults that depend on it. */
export interface DefaultConditions {
  /** The training rows are token ids (text, a Dataset with `tokens`). */
  text: boolean;
  /** At least LABELLED_SHARE_FOR_LABEL_DEFAULTS of the training rows keep their labels. */
  mostlyLabelled: boolean;
}

export type DefaultCondition = keyof DefaultConditions;

// With a transfer set (few labels), the teacher's soft labels are most of what the student learns from. With
// most rows labelled, the hard labels already carry what the teacher would say, and the sweeps in
// docs/sweep-results.md found a soft, teacher-weighted objective pulling students below their hard-label
// baselines there. The boundary lies between the shares those sweeps measured: a choice, not a measurement.
/** From this share of labelled training rows up, a run takes the defaults for rows with labels (`mostlyLabelled`). */
export const LABELLED_SHARE_FOR_LABEL_DEFAULTS = 0.5;

/** How help and the docs word each condition, in the order they are tried when an option names several. */
export const DEFAULT_CONDITION_WORDING: Readonly<Record<DefaultCondition, string>> = {
  text: 'for text',
  mostlyLabelled: `when at least ${LABELLED_SHARE_FOR_LABEL_DEFAULTS * 100}% of the training rows keep their labels`,
};

export const DEFAULT_CONDITION_NAMES = Object.keys(DEFAULT_CONDITION_WORDING) as DefaultCondition[];

/** No condition holds: what an entry point without training data (labelling alone) resolves with. */
export const NO_CONDITIONS: DefaultConditions = { text: false, mostlyLabelled: false };

/**
 * Whether the training rows with labels `labels` (-1: none), of which the student keeps the first `labeled`
 * (null: all), keep at least LABELLED_SHARE_FOR_LABEL_DEFAULTS of their labels.
 */
export function isMostlyLabelled(labels: ArrayLike<number> | undefined, labeled: number | null | undefined): boolean {
  if (labels === undefined || labels.length === 0) return false;
  const end = labeled === null || labeled === undefined ? labels.length : Math.min(labeled, labels.length);
  let kept = 0;
  for (let row = 0; row < end; row++) if (labels[row] >= 0) kept++;
  return kept / labels.length >= LABELLED_SHARE_FOR_LABEL_DEFAULTS;
}

/** The conditions of a run on `train`, of which the student keeps the first `labeled` labels. */
export function defaultConditionsOf(options: { train?: Dataset; labeled?: number | null }): DefaultConditions {
  return { text: options.train?.tokens !== undefined, mostlyLabelled: isMostlyLabelled(options.train?.y, options.labeled) };
}

/** The value an option with default `value` and data-dependent defaults `defaultWhen` takes under `conditions`. */
export function conditionalDefault<T>(
  value: T,
  defaultWhen: Partial<Record<DefaultCondition, T>> | undefined,
  conditions: DefaultConditions,
): T {
  const holding = DEFAULT_CONDITION_NAMES.find((name) => conditions[name] && defaultWhen?.[name] !== undefined);
  return holding === undefined ? value : (defaultWhen![holding] as T);
}

/**
 * A default as help and the docs show it: `shown`, then each data-dependent default that differs from
 * `value` with its condition's wording (`128, 32 for text`). `render` writes a value; `conditions` are those
 * the showing command can meet.
 */
export function withConditionalDefaults(
  shown: string,
  value: unknown,
  defaultWhen: Partial<Record<DefaultCondition, unknown>> | undefined,
  render: (value: unknown) => string,
  conditions: readonly DefaultCondition[] = DEFAULT_CONDITION_NAMES,
): string {
  const parts = DEFAULT_CONDITION_NAMES.filter((name) => conditions.includes(name))
    .filter((name) => defaultWhen?.[name] !== undefined && JSON.stringify(defaultWhen[name]) !== JSON.stringify(value))
    .map((name) => `${render(defaultWhen?.[name])} ${DEFAULT_CONDITION_WORDING[name]}`);
  return [shown, ...parts].join(', ');
}
