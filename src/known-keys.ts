/**
 * Strict names: the options of `distill`, the keys of a config file and the CLI's flags refuse what they do
 * not know, naming it and the nearest valid name, since a misspelt setting that is silently dropped runs
 * with its default and wastes the run.
 */

/**
 * Edit distance with adjacent swaps (optimal string alignment): typos, dropped, doubled and swapped
 * letters each count one.
 */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  }
  return rows[a.length][b.length];
}

/** Case, dashes, underscores and dots do not tell names apart: batch_size, batch-size and batchSize are one name. */
const normal = (name: string) => name.toLowerCase().replace(/[-_.\s]/g, '');

/**
 * The suggestion for the closest of `candidates` to `name`, or undefined when none is close enough to be a
 * likely slip. A candidate is [a form to compare with, what to suggest], so that several forms can lead to
 * one suggestion (an option's name, a flag that sets it, a name from another library). Close enough: a few
 * edits for the length, or the start of the form (three letters at least). Ties go to the first.
 */
export function nearestName(name: string, candidates: Iterable<readonly [string, string]>): string | undefined {
  const wanted = normal(name);
  let best: { score: number; suggestion: string } | undefined;
  for (const [form, suggestion] of candidates) {
    const other = normal(form);
    const distance = editDistance(wanted, other);
    const typo = distance <= Math.max(1, Math.floor(0.4 * Math.max(wanted.length, other.length)));
    const prefix = wanted.length >= 3 && other.startsWith(wanted);
    if (!typo && !prefix) continue;
    // A prefix ranks just after an exact match: 'temp' means temperature more surely than a two-letter slip.
    const score = distance === 0 ? 0 : prefix ? 0.5 : distance;
    if (!best || score < best.score) best = { score, suggestion };
  }
  return best?.suggestion;
}

/**
 * The keys an object may hold. Each maps to the keys its own value may hold when that value is an object
 * checked key by key, or to null when the value is taken as a whole.
 */
export type KeyTree = { readonly [key: string]: KeyTree | null };

/** A plain `{ ... }` object (not an array, a model, a Map or a class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Every key path of `tree`, dotted, parents before their children: optimizer, optimizer.name, ... */
export function keyPaths(tree: KeyTree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([key, sub]) => [`${prefix}${key}`, ...(sub ? keyPaths(sub, `${prefix}${key}.`) : [])]);
}

/** A key `unknownKey` found: its dotted path, and the valid path it most likely meant. */
export interface UnknownKey {
  path: string;
  suggestion?: string;
}

/**
 * The first key of `value` (depth first) that `tree` does not name, with the nearest valid path; undefined
 * when every key is known. `aliases` maps other names people use (lr) to the path they mean.
 */
export function unknownKey(
  value: Record<string, unknown>,
  tree: KeyTree,
  aliases: Readonly<Record<string, string>> = {},
): UnknownKey | undefined {
  const found = firstUnknown(value, tree, '');
  if (!found) return undefined;
  const leaf = (path: string) => path.slice(path.lastIndexOf('.') + 1);
  const parent = found.slice(0, found.lastIndexOf('.') + 1);
  const paths = keyPaths(tree);
  // Paths under the same parent come first, so that ties go to a sibling of the misspelt key.
  const ordered = [...paths.filter((p) => p.startsWith(parent)), ...paths.filter((p) => !p.startsWith(parent))];
  const candidates: [string, string][] = [...Object.entries(aliases), ...ordered.map((path): [string, string] => [leaf(path), path])];
  // The key's own parents are not what it meant: teacherNormalize.zzz is not teacherNormalize.
  const unrelated = candidates.filter(([, suggestion]) => !found.startsWith(`${suggestion}.`));
  // Last segments are compared, so that a long shared parent does not make any two of its keys look alike.
  return { path: found, suggestion: nearestName(leaf(found), unrelated) };
}

function firstUnknown(value: Record<string, unknown>, tree: KeyTree, prefix: string): string | undefined {
  for (const [key, item] of Object.entries(value)) {
    if (!Object.hasOwn(tree, key)) return `${prefix}${key}`;
    const sub = tree[key];
    if (sub && isPlainObject(item)) {
      const found = firstUnknown(item, sub, `${prefix}${key}.`);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * The message for an unknown key: `unknown option 'lr'; did you mean 'optimizer.learningRate'?`, or, with
 * nothing close, the valid names at that level.
 */
export function unknownKeyMessage(kind: string, found: UnknownKey, tree: KeyTree): string {
  if (found.suggestion) return `unknown ${kind} '${found.path}'; did you mean '${found.suggestion}'?`;
  const parent = found.path.includes('.') ? found.path.slice(0, found.path.lastIndexOf('.')) : '';
  const level = parent ? parent.split('.').reduce<KeyTree | null>((sub, key) => sub?.[key] ?? null, tree) : tree;
  const valid = Object.keys(level ?? {}).map((key) => (parent ? `${parent}.${key}` : key));
  return `unknown ${kind} '${found.path}'; valid ${kind}s: ${valid.join(', ')}`;
}
