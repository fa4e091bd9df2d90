// To add a model family: create a file in this folder exporting an ArchitectureEntry (see
// architecture-entry.ts; mlp.ts is the smallest), and add it to ARCHITECTURES below. buildModel, the CLI's
// --student-arch/--teacher-arch and the listings then know it.
import type { ArchitectureEntry } from './architecture-entry.js';
import { bagArchitecture } from './bag.js';
import { bilstmArchitecture } from './bilstm.js';
import { cnnArchitecture } from './cnn.js';
import { cnn1dArchitecture } from './cnn1d.js';
import { mlpArchitecture } from './mlp.js';

/** Every model family, in the order listings show them. */
export const ARCHITECTURES: readonly ArchitectureEntry[] = [
  mlpArchitecture,
  cnnArchitecture,
  bagArchitecture,
  cnn1dArchitecture,
  bilstmArchitecture,
];

/** One family as listings show it (--help, docs, errors). */
export interface ArchitectureListing {
  name: string;
  usage: string;
  description: string;
  rows: ArchitectureEntry['rows'];
}

/** Every registered model family, for --help, generated docs and errors. */
export function listArchitectures(): ArchitectureListing[] {
  return ARCHITECTURES.map(({ name, usage, description, rows }) => ({ name, usage, description, rows }));
}

/** The family a spec names (`mlp:32` names mlp), or undefined. */
export function architectureOf(spec: string): { entry: ArchitectureEntry; args: string } | undefined {
  const colon = spec.indexOf(':');
  const entry = colon > 0 ? ARCHITECTURES.find((family) => family.name === spec.slice(0, colon)) : undefined;
  return entry && { entry, args: spec.slice(colon + 1) };
}

/** Whether a spec names a registered family (the run builds it) rather than a model file; ./mlp:32 names a file. */
export function isArchitectureSpec(spec: string): boolean {
  return architectureOf(spec) !== undefined;
}

/** The names of the families that take these rows, `a, b or c`, for errors that point to them. */
export function familiesFor(rows: ArchitectureEntry['rows'][]): string {
  return or(ARCHITECTURES.filter((family) => rows.includes(family.rows)).map((family) => family.name));
}

/** The one-line error for a spec no family builds, listing every family. */
export function unknownArchitectureMessage(spec: string): string {
  const forms = ARCHITECTURES.map((family) => `'${family.usage}' (${family.arguments})`);
  const examples = ARCHITECTURES.map((family) => family.example);
  return `unknown architecture '${spec}': use ${or(forms)}, e.g. ${or(examples)}`;
}

/** `a`, `a or b`, `a, b or c`. */
function or(items: string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : items.join('');
}
