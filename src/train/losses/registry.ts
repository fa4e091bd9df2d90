// To add a loss: create a file in this folder exporting a LossEntry<YourSpec> (see loss-entry.ts; kd.ts is the
// smallest), and add it to LOSSES below. Its name, parameters, checks and type then reach the `loss` option,
// --loss, the workers and the listings with no other edit.
import { customLoss } from './custom.js';
import { dkdLoss } from './dkd.js';
import { hardLoss } from './hard.js';
import type { LossEntry, LossParameterName, RegisteredLoss } from './loss-entry.js';
import { kdLoss } from './kd.js';
import { mseLogitsLoss } from './mse-logits.js';

/** Every loss, in the order listings show them. */
export const LOSSES = [kdLoss, dkdLoss, mseLogitsLoss, customLoss, hardLoss] as const;

type Registered = (typeof LOSSES)[number];
type SpecOf<E> = E extends LossEntry<infer S> ? S : never;

/** A training objective, as every worker receives it: one registered loss's spec (see its file). */
export type LossSpec = SpecOf<Registered>;

/** The losses with a teacher term; those without a pickedBy key are chosen by name. */
type DistillationSpec = Extract<LossSpec, { alpha: number }>;
type PickedSpec = Extract<DistillationSpec, { name: 'custom' }>;
type NamedSpec = Exclude<DistillationSpec, PickedSpec>;

/** The names a user can choose a distillation loss by. */
export type DistillationLossName = NamedSpec['name'];

type NamedOption<S> = S extends NamedSpec ? { name: S['name'] } & Partial<Pick<S, LossParameterName<S>>> : never;

/** How a distillation objective is chosen: by name, with its parameters, or as a module of your own. */
export type LossOption = DistillationLossName | NamedOption<NamedSpec> | { module: string; options?: Record<string, unknown> };

/** LOSSES, as code that dispatches by name sees them. */
export const REGISTERED_LOSSES: readonly RegisteredLoss[] = LOSSES;
const ENTRIES = REGISTERED_LOSSES;

/** The registered loss of this name; throws on a name no file registers. */
export function lossEntry(name: string): RegisteredLoss {
  const entry = ENTRIES.find((loss) => loss.name === name);
  if (!entry) throw new Error(`no loss is registered as '${name}'; the losses are ${ENTRIES.map((loss) => loss.name).join(', ')}`);
  return entry;
}

/** The distillation losses chosen by name (kd, dkd, mse-logits). */
export const DISTILLATION_LOSSES: readonly DistillationLossName[] = ENTRIES.filter((loss) => loss.usesTeacher && !loss.pickedBy).map(
  (loss) => loss.name as DistillationLossName,
);

/** One loss as listings show it (--help, docs, errors). */
export interface LossListing {
  name: string;
  /** How the `loss` option selects it: its name, or `{ module: ... }`. */
  usage: string;
  description: string;
  /** Its own parameters, with their defaults (undefined: required). */
  parameters: { name: string; description: string; default: unknown }[];
  usesTemperature: boolean;
  usesTeacher: boolean;
}

/** Every registered loss, for --help, generated docs and errors. */
export function listLosses(): LossListing[] {
  return ENTRIES.map((loss) => ({
    name: loss.name,
    usage: loss.pickedBy ? `{ ${loss.pickedBy}: ${loss.parameters[loss.pickedBy].example ?? '...'} }` : loss.name,
    description: loss.description,
    parameters: Object.entries(loss.parameters).map(([name, p]) => ({ name, description: p.description, default: p.default })),
    usesTemperature: loss.usesTemperature,
    usesTeacher: loss.usesTeacher,
  }));
}
