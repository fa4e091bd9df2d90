// The grid of a sweep: option keys and the values each takes, checked before anything is labelled or
// trained, and the points (trials) made from it, all of them or a seeded sample.
import { DistillError, check } from '../errors.js';
import { isPlainObject, nearestName } from '../known-keys.js';
import { isArchitectureSpec } from '../models/architectures.js';
import { OPTION_SCHEMA, resolveKeys } from '../options/resolve.js';
import type { OptionDecl } from '../options/schema.js';
import { DISTILL_GROUPS } from '../options/options.js';
import { mixSeed, seededPermutation } from '../random.js';

/** Option key (`temperature`, or one level down: `optimizer.learningRate`) to the values the sweep tries. */
export type SweepGrid = Record<string, unknown[]>;

/**
 * Options a grid may not vary: the data, the teacher and its labels (labelled once for every trial), the
 * validation split (every trial is chosen on the same rows) and how the machine is used (the sweep's schedule).
 */
const FIXED_KEYS = new Set([
  'teacher',
  'train',
  'test',
  'teacherView',
  'teacherLogits',
  'teacherTestLogits',
  'teacherLayout',
  'teacherNormalize',
  'teacherOutput',
  'teacherRuntime',
  'teacherEpochs',
  'teacherTraining',
  'softLabels',
  'softLabelTopK',
  'labeled',
  'validation',
  'baseline',
  'checkpoint',
  'onProgress',
  'signal',
  'workers',
  'threadsPerWorker',
  'trainWorkers',
  'backend',
  'kernels',
  'barrierTimeoutMs',
  'maxRestarts',
  'workerMemoryMb',
  'workerImports',
]);

const declOf = (key: string) => (OPTION_SCHEMA as Record<string, OptionDecl<unknown>>)[key];

/** The distill options a grid may vary. */
export function sweepableKeys(): string[] {
  return Object.keys(OPTION_SCHEMA).filter((key) => {
    const decl = declOf(key);
    return (DISTILL_GROUPS as readonly string[]).includes(decl.group) && decl.scope !== 'cli' && !FIXED_KEYS.has(key);
  });
}

/** Sets `key` (dotted one level: `optimizer.learningRate`) to `value` in a copy of `options`. */
export function withSetting(options: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const [top, sub] = key.split('.');
  if (sub === undefined) return { ...options, [top]: value };
  const inner = isPlainObject(options[top]) ? options[top] : {};
  return { ...options, [top]: { ...inner, [sub]: value } };
}

/**
 * Checks the grid against the options: every key an option the sweep may vary (a misspelt one is refused
 * with the nearest name), every value passing that option's own check, no empty list. Done before any
 * labelling, so that a bad value costs nothing.
 */
export function checkGrid(grid: unknown, base: Record<string, unknown>): SweepGrid {
  check(isPlainObject(grid), 'grid must map option keys to lists of values, e.g. { temperature: [1, 2, 4] }', ['grid']);
  const keys = Object.keys(grid);
  check(keys.length > 0, 'grid is empty: give at least one option and its values, e.g. temperature: [1, 2, 4]', ['grid']);
  const sweepable = sweepableKeys();
  for (const key of keys) {
    const [top, sub] = key.split('.');
    if (!sweepable.includes(top)) {
      if (FIXED_KEYS.has(top)) {
        throw new DistillError(`grid key '${key}' is an option a sweep holds fixed for every trial; set it outside the grid`, ['grid']);
      }
      const suggestion = nearestName(
        top,
        sweepable.map((name) => [name, name] as const),
      );
      throw new DistillError(
        `grid key '${key}' is not an option${suggestion ? `; did you mean '${suggestion}'?` : `; the grid takes ${sweepable.join(', ')}`}`,
        ['grid'],
      );
    }
    const subKeys = declOf(top).keys;
    check(
      sub === undefined || (subKeys != null && Object.hasOwn(subKeys, sub) && key.split('.').length === 2),
      `grid key '${key}' is not an option${subKeys ? `; ${top} takes ${Object.keys(subKeys).join(', ')}` : ''}`,
      ['grid'],
    );
    const values = (grid as Record<string, unknown>)[key];
    check(Array.isArray(values), `grid ${key} must be a list of values, got ${JSON.stringify(values)}`, ['grid']);
    check(values.length > 0, `grid ${key} has no values; give at least one`, ['grid']);
    check(new Set(values.map((v) => JSON.stringify(v))).size === values.length, `grid ${key} lists a value twice`, ['grid']);
    for (const value of values) checkGridValue(key, value, base);
  }
  return grid as SweepGrid;
}

/** One grid value through its option's check (the message names the grid key and the value). */
function checkGridValue(key: string, value: unknown, base: Record<string, unknown>): void {
  const top = key.split('.')[0];
  if (top === 'student' && typeof value === 'string' && value.includes(':') && !value.includes('/')) {
    check(isArchitectureSpec(value), `grid student '${value}' is not an architecture (mlp:32, cnn:16,32, ...) or a model path`, ['grid']);
  }
  try {
    resolveKeys(withSetting(base, key, value), [top]);
  } catch (error) {
    if (error instanceof DistillError) throw new DistillError(`grid ${key} value ${JSON.stringify(value)}: ${error.message}`, ['grid']);
    throw error;
  }
}

/** How many points the grid has: the product of its lists' lengths. */
export function gridSize(grid: SweepGrid): number {
  return Object.values(grid).reduce((count, values) => count * values.length, 1);
}

/**
 * The settings of each trial, in grid order (the last key varies fastest). With `trials`, that many points
 * sampled without repeats by `seed`, kept in grid order.
 */
export function gridPoints(grid: SweepGrid, trials: number | null, seed: number): Record<string, unknown>[] {
  const size = gridSize(grid);
  check(
    trials === null || (Number.isInteger(trials) && trials >= 1 && trials <= size),
    `trials ${trials} is more than the grid's ${size} points (or below 1); give 1 to ${size}, or leave it out for every point`,
    ['trials'],
  );
  const keys = Object.keys(grid);
  const point = (index: number) => {
    const settings: Record<string, unknown> = {};
    let rest = index;
    for (let k = keys.length - 1; k >= 0; k--) {
      const values = grid[keys[k]];
      settings[keys[k]] = values[rest % values.length];
      rest = Math.floor(rest / values.length);
    }
    return Object.fromEntries(keys.map((key) => [key, settings[key]]));
  };
  const chosen =
    trials === null
      ? Array.from({ length: size }, (_, i) => i)
      : [...seededPermutation(size, mixSeed(seed, 23)).subarray(0, trials)].sort((a, b) => a - b);
  return chosen.map(point);
}

/**
 * The CLI's grid: each `KEY=V1,V2` adds values to KEY. Numbers, true, false and null are read as such;
 * the rest stay strings. An architecture's own commas stay in it: in `student=mlp:128,64,mlp:32` a piece
 * starting with a digit continues the spec before it.
 */
export function parseGridFlags(flags: readonly string[]): SweepGrid {
  const grid: SweepGrid = {};
  for (const flag of flags) {
    const at = flag.indexOf('=');
    check(at > 0 && at < flag.length - 1, `grid '${flag}' must be KEY=V1,V2,... (for example temperature=1,2,4)`, ['grid']);
    const key = flag.slice(0, at).trim();
    const pieces = flag
      .slice(at + 1)
      .split(',')
      .map((piece) => piece.trim());
    const values: string[] = [];
    for (const piece of pieces) {
      const continues = key === 'student' && values.length > 0 && /^\d/.test(piece) && values[values.length - 1].includes(':');
      if (continues) values[values.length - 1] += `,${piece}`;
      else values.push(piece);
    }
    check(
      values.every((value) => value !== ''),
      `grid '${flag}' has an empty value`,
      ['grid'],
    );
    grid[key] = [...(grid[key] ?? []), ...values.map(typedValue)];
  }
  return grid;
}

function typedValue(text: string): unknown {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  const number = Number(text);
  return text !== '' && Number.isFinite(number) ? number : text;
}
