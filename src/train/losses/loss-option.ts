import type { RegisteredLoss } from './loss-entry.js';
import { DISTILLATION_LOSSES, type LossOption, type LossSpec, REGISTERED_LOSSES, lossEntry } from './registry.js';

/** The registered loss a `loss` option selects, or undefined: by name, or by an entry's pickedBy key. */
function selectedLoss(option: unknown): RegisteredLoss | undefined {
  const byName = (name: unknown) =>
    typeof name === 'string' && (DISTILLATION_LOSSES as readonly string[]).includes(name) ? lossEntry(name) : undefined;
  if (typeof option === 'string') return byName(option);
  if (typeof option !== 'object' || option === null) return undefined;
  const picked = REGISTERED_LOSSES.find((loss) => loss.pickedBy !== undefined && loss.pickedBy in option);
  return picked ?? ('name' in option ? byName(option.name) : undefined);
}

/** What is wrong with a `loss` option, in one line naming the fix; undefined when it is valid. */
export function lossOptionProblem(option: unknown): string | undefined {
  const entry = selectedLoss(option);
  if (!entry) {
    const picked = REGISTERED_LOSSES.filter((loss) => loss.pickedBy !== undefined);
    const choices = [...DISTILLATION_LOSSES, ...picked.map((loss) => `{ ${loss.pickedBy}: ${loss.parameters[loss.pickedBy!].example} }`)];
    return `loss ${JSON.stringify(option)} is not one of ${choices.slice(0, -1).join(', ')}, or ${choices.at(-1)}`;
  }
  if (typeof option !== 'object' || option === null) return undefined;
  for (const [key, parameter] of Object.entries(entry.parameters)) {
    const value = (option as Record<string, unknown>)[key];
    if (value === undefined ? parameter.default === undefined : !parameter.accepts(value)) {
      return `loss.${key} must be ${parameter.expects}, got ${value}`;
    }
  }
  return undefined;
}

/** The spec the workers train with, from a checked `loss` option and the run's temperature and alpha. */
export function lossSpecOf(option: LossOption, run: { temperature: number; alpha: number }): LossSpec {
  const entry = selectedLoss(option);
  if (!entry) throw new Error(lossOptionProblem(option));
  const given = (typeof option === 'object' ? option : {}) as Record<string, unknown>;
  const spec: Record<string, unknown> = { name: entry.name };
  if (entry.usesTemperature) spec.temperature = run.temperature;
  if (entry.usesTeacher) spec.alpha = run.alpha;
  for (const [key, parameter] of Object.entries(entry.parameters)) {
    const value = given[key] ?? parameter.default;
    spec[key] = parameter.resolve ? parameter.resolve(value) : value;
  }
  return spec as unknown as LossSpec;
}
