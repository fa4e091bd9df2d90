/**
 * The one option table, and what is derived from it: defaults, the strict key trees (with their
 * suggestions), and the resolution of an entry point's groups into a typed, checked config.
 */
import { DistillError, check } from '../errors.js';
import { type KeyTree, isPlainObject, unknownKey, unknownKeyMessage } from '../known-keys.js';
import { type DefaultCondition, type DefaultConditions, NO_CONDITIONS, conditionalDefault } from './default-conditions.js';
import { DATA_OPTIONS } from './groups/data.js';
import { MODEL_OPTIONS } from './groups/models.js';
import { OPTIMIZATION_OPTIONS } from './groups/optimization.js';
import { RUNTIME_OPTIONS, RUNTIME_RULES } from './groups/runtime.js';
import { TRAINING_OPTIONS, TRAINING_RULES } from './groups/training.js';
import { type OptionDecl, type OptionGroup, type OptionRule, type OptionValues, isComputed } from './schema.js';

/** Every option, declared once; their order is the order of help, docs and checks. */
export const OPTION_SCHEMA = { ...DATA_OPTIONS, ...MODEL_OPTIONS, ...TRAINING_OPTIONS, ...OPTIMIZATION_OPTIONS, ...RUNTIME_OPTIONS };

/** Rules about several options together: each is checked where every option it names is resolved. */
export const OPTION_RULES: readonly OptionRule[] = [...TRAINING_RULES, ...RUNTIME_RULES];

type Schema = typeof OPTION_SCHEMA;
export type OptionKey = keyof Schema;
/** The options of the groups G. */
export type KeysOfGroups<G extends OptionGroup> = { [K in OptionKey]: Schema[K]['group'] extends G ? K : never }[OptionKey];
/** The options the library's functions take (not the CLI's own). */
export type LibraryKeys = { [K in OptionKey]: Schema[K] extends { scope: 'cli' } ? never : K }[OptionKey];
/** The options the CLI and config files take (not data in memory or callbacks). */
export type SettingKeys = { [K in OptionKey]: Schema[K] extends { scope: 'library' } ? never : K }[OptionKey];
/** The options with a default. */
export type DefaultedKeys = { [K in OptionKey]: Schema[K] extends { default: unknown } ? K : never }[OptionKey];

/**
 * The resolved options of groups G, as a library function gets them: every value checked, and every option
 * with a default filled in. Options without one (models, data, callbacks, the checkpoint) stay with the
 * caller's own options: they are checked, but are no settings of the run (a run's fingerprint compares these).
 */
export type ResolvedOptions<G extends OptionGroup> = Pick<OptionValues, KeysOfGroups<G> & LibraryKeys & DefaultedKeys>;

/** True when A and B are the same set of keys: for compile-time checks that an interface names exactly the declared options. */
export type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Names people bring from other libraries, and the option each means. */
export const OPTION_ALIASES: Readonly<Record<string, string>> = { lr: 'optimizer.learningRate' };

const declOf = (key: string): OptionDecl<unknown> => (OPTION_SCHEMA as Record<string, OptionDecl<unknown>>)[key];

/** Where options are given: to a library function, or in a config file and flags. */
export type OptionScope = 'library' | 'settings';

/** The options of `groups` that exist in `scope`, in schema order. */
export function keysOfGroups(groups: readonly OptionGroup[], scope: OptionScope): OptionKey[] {
  return (Object.keys(OPTION_SCHEMA) as OptionKey[]).filter((key) => {
    const decl = declOf(key);
    return groups.includes(decl.group) && decl.scope !== (scope === 'library' ? 'cli' : 'library');
  });
}

/** The strict key tree of `keys`: each option, and the keys of those that take an object. */
export function keyTreeOf(keys: readonly string[], scope: OptionScope): KeyTree {
  return Object.fromEntries(
    keys.map((key) => [key, (scope === 'settings' ? declOf(key).fileKeys : undefined) ?? declOf(key).keys ?? null]),
  );
}

/**
 * An option's default, computed ones worked out now; undefined when it has none. Under `conditions`, the
 * default the declaration gives for the first condition that holds (see ./default-conditions.ts).
 */
export function defaultOf(key: string, conditions: DefaultConditions = NO_CONDITIONS): unknown {
  const { default: value, defaultWhen } = declOf(key);
  return conditionalDefault(isComputed(value) ? value.value() : value, defaultWhen, conditions);
}

/** The options of `keys` that take another default when `condition` holds, with that default. */
export function conditionalDefaultsOf(keys: readonly string[], condition: DefaultCondition): Record<string, unknown> {
  return Object.fromEntries(
    keys.filter((key) => declOf(key).defaultWhen?.[condition] !== undefined).map((key) => [key, declOf(key).defaultWhen?.[condition]]),
  );
}

/** The defaults of `keys` that have one, as DEFAULTS lists them. */
export function defaultsOf(keys: readonly string[]): Record<string, unknown> {
  const listed = (key: string) => {
    const value = declOf(key).default;
    return isComputed(value) && value.listed !== undefined ? value.listed : defaultOf(key);
  };
  return Object.fromEntries(keys.filter((key) => declOf(key).default !== undefined).map((key) => [key, listed(key)]));
}

/** How an entry point resolves its options. */
export interface ResolveScope<G extends OptionGroup, O extends OptionKey = never> {
  groups: readonly G[];
  /** Options of those groups that the entry point does not use, refused like unknown ones. */
  omit?: readonly O[];
  /** The entry point's own keys (its data, callbacks, command options), accepted but not resolved here. */
  own?: readonly string[];
  /** What is true of the training data: options not given take the defaults they declare for it. Default: nothing. */
  conditions?: DefaultConditions;
}

/**
 * The options of `scope.groups`, with every default filled in and every value checked, each problem a
 * one-line DistillError naming the option. A key that is neither one of these options nor one of the entry
 * point's own is refused with the nearest valid name, since a misspelt option would otherwise be dropped and
 * the run would go on with its default.
 */
export function resolveOptions<G extends OptionGroup, O extends OptionKey = never>(
  options: object,
  scope: ResolveScope<G, O>,
): Omit<ResolvedOptions<G>, O> {
  const omitted: readonly string[] = scope.omit ?? [];
  const keys = keysOfGroups(scope.groups, 'library').filter((key) => !omitted.includes(key));
  const given = options as Record<string, unknown>;
  const tree = { ...keyTreeOf(keys, 'library'), ...Object.fromEntries((scope.own ?? []).map((key) => [key, null])) };
  const unknown = unknownKey(given, tree, OPTION_ALIASES);
  check(!unknown, () => unknownKeyMessage('option', unknown!, tree));
  return resolveKeys(given, keys, scope.conditions) as Omit<ResolvedOptions<G>, O>;
}

/**
 * Fills in the defaults of `keys` under `given` (those of `conditions` where they hold) and checks every value
 * and every rule among them.
 */
export function resolveKeys(
  given: Record<string, unknown>,
  keys: readonly string[],
  conditions: DefaultConditions = NO_CONDITIONS,
): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const key of keys) {
    const value = given[key];
    const fallback = defaultOf(key, conditions);
    config[key] =
      value === undefined
        ? fallback
        : declOf(key).mergeDefault && isPlainObject(value) && isPlainObject(fallback)
          ? { ...fallback, ...Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) }
          : value;
  }
  for (const key of keys) {
    const { check: problemOf } = declOf(key);
    const value = config[key];
    const problem = value === undefined || !problemOf ? undefined : problemOf(value);
    if (problem !== undefined) {
      throw typeof problem === 'string' ? new DistillError(problem, [key]) : new DistillError(problem.message, problem.options);
    }
  }
  const withDefaults = Object.fromEntries(Object.entries(config).filter(([key]) => declOf(key).default !== undefined));
  for (const rule of OPTION_RULES) {
    if (!rule.options.every((key) => keys.includes(key))) continue;
    const message = rule.check(config as Partial<OptionValues>, given as Partial<OptionValues>);
    if (message !== undefined) throw new DistillError(message, [...rule.options]);
  }
  return withDefaults;
}
