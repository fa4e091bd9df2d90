import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { absoluteSource } from '../data/data-source.js';
import { absoluteUnlessUrl } from '../url-or-path.js';
import { type DistillConfig, OPTION_ALIASES, OPTION_KEYS } from '../options/options.js';
import { DistillError, check, messageOf } from '../errors.js';
import { type KeyTree, isPlainObject, unknownKey, unknownKeyMessage } from '../known-keys.js';
import type { OptimizerSpec } from '../train/optimizers.js';
import { type FileSettings, RUN_FLAGS, type RunFlags, keyOfFlag } from './flags.js';

/** The settings only the CLI has: where the data comes from, and where the outputs go. */
export interface CliSettings {
  /** mnist, idx:DIR, csv:FILE, npy:X.npy,Y.npy or images:DIR. */
  data: string;
  /** The test split of a CSV or NPY source (csv:FILE, npy:X.npy,Y.npy); null: held out from data. */
  testData: string | null;
  /** Use the first N training rows; null: all. */
  limit: number | null;
  /** CSV and NPY without testData: the share of rows held out for testing; null: 0.2 there, nothing elsewhere. */
  testFraction: number | null;
  /** Image folders: [H, W] every image is resized to; null: the first image's size. */
  imageSize: [number, number] | null;
  /** Image folders: 1 or 3; null: 1 when the first image is greyscale, else 3. */
  channels: 1 | 3 | null;
  /** Image folders: leave out images that cannot be decoded, instead of stopping. */
  skipBadImages: boolean;
  /** The folder of the outputs. */
  out: string;
}

/**
 * A CLI run's settings: the library's options, with the models named by a path or an architecture
 * (mlp:..., cnn:...; null for the default) and the checkpoint folder kept under `out`, and the CLI's own
 * settings. A config file holds any part of it; report.json's `config` holds all of it but `out` and
 * `checkpoint.resume`.
 */
export type RunSettings = Partial<Omit<DistillConfig, 'optimizer'>> &
  CliSettings & {
    teacher: string | null;
    student: string | null;
    optimizer?: Partial<OptimizerSpec>;
    checkpoint: { everySteps: number | null; resume: boolean };
  };

const CLI_KEYS = {
  data: null,
  testData: null,
  limit: null,
  testFraction: null,
  imageSize: null,
  channels: null,
  skipBadImages: null,
  out: null,
} satisfies Record<keyof CliSettings, null>;

/** Library options that are not settings: data in memory and callbacks. */
const NOT_IN_FILES = new Set(['train', 'test', 'onProgress', 'signal']);

/**
 * Every key a config file may hold: the library's options (so an option added there is a key here too),
 * the CLI's own, and a checkpoint without its folder, which is always `out`/.checkpoint.
 */
export const RUN_KEYS: KeyTree = {
  ...Object.fromEntries(Object.entries(OPTION_KEYS).filter(([key]) => !NOT_IN_FILES.has(key))),
  checkpoint: { everySteps: null, resume: null },
  ...CLI_KEYS,
};

/** What the CLI uses when neither a flag nor the config file says. */
export const CLI_DEFAULTS = {
  data: 'mnist',
  student: 'mlp:32',
  /** Convolutions for image rows, dense layers for feature vectors, which convolutions cannot take. */
  teacherForImages: 'cnn:32,64',
  teacherForVectors: 'mlp:128,64',
  /** Epochs of teacher training when the run builds the teacher and teacherEpochs is not given. */
  builtTeacherEpochs: 5,
  testFraction: 0.2,
  out: 'distill-out',
} as const;

/** The teacher a run builds when none is named: convolutions for image rows, dense layers otherwise. */
export function defaultTeacher(featureShape: number[]): string {
  // Two 2x2 pools need 4x4 pixels at least; smaller or flat rows get dense layers.
  const [height, width] = featureShape;
  const images = (featureShape.length === 2 || featureShape.length === 3) && height >= 4 && width >= 4;
  return images ? CLI_DEFAULTS.teacherForImages : CLI_DEFAULTS.teacherForVectors;
}

/** A model named by an architecture (built by the run) rather than a path; ./mlp:32 names a file. */
export const isArchitecture = (spec: string) => /^(mlp|cnn):/.test(spec);

/** Reads a config file (YAML, or JSON), or the `config` of a report.json. */
export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  const extension = extname(file).toLowerCase();
  check(['.yaml', '.yml', '.json'].includes(extension), `--config ${file}: give a .yaml, .yml or .json file (a run's report.json is one)`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DistillError(`--config ${file} cannot be read (${messageOf(error)})`);
  }
  let value: unknown;
  if (extension === '.json') {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new DistillError(`${file} is not valid JSON: ${messageOf(error)}`);
    }
  } else {
    const lines = new LineCounter();
    const document = parseDocument(text, { prettyErrors: false, lineCounter: lines });
    const error = document.errors[0];
    if (error) {
      const { line, col } = lines.linePos(error.pos[0]);
      throw new DistillError(`${file} is not valid YAML at line ${line}, column ${col}: ${messageOf(error)}`);
    }
    value = document.toJS() ?? {};
  }
  check(isPlainObject(value), `${file}: the top level must be a mapping of keys to values (epochs: 3, ...)`);
  // A report.json: its config is the run's settings, the rest is what the run measured.
  const settings = isPlainObject(value.config) ? value.config : value;
  const unknown = unknownKey(settings, RUN_KEYS, keyAliases());
  check(!unknown, () => `${file}: ${unknownKeyMessage('key', unknown!, RUN_KEYS)}`);
  return settings;
}

/** Other names for keys: each flag's name for the key it sets (lr, batch-size, teacher-arch), and the library's aliases. */
function keyAliases(): Record<string, string> {
  const flags = Object.keys(RUN_FLAGS).flatMap((flag) => {
    const key = keyOfFlag(flag);
    return key ? [[flag, key] as const] : [];
  });
  return { ...Object.fromEntries(flags), ...OPTION_ALIASES };
}

/** The settings the flags give, as config-file keys. */
export function settingsFromFlags(flags: RunFlags): Record<string, unknown> {
  check(!(flags.teacher && flags['teacher-arch']), 'give --teacher PATH or --teacher-arch SPEC, not both');
  check(!(flags.student && flags['student-arch']), 'give --student PATH or --student-arch SPEC, not both');
  const settings: Record<string, unknown> = {};
  for (const [flag, raw] of Object.entries(flags)) {
    const key = keyOfFlag(flag);
    if (key === undefined || raw === undefined) continue;
    const value =
      flag === 'image-size'
        ? parseImageSize(String(raw))
        : flag === 'teacher-normalize'
          ? parseNormalize(String(raw))
          : flag === 'import'
            ? [raw]
            : flag === 'loss'
              ? parseLoss(String(raw), flags['dkd-weights'])
              : flag === 'augment'
                ? parseAugment(String(raw))
                : flag === 'threads-per-worker'
                  ? parseThreads(String(raw))
                  : raw;
    if (flag !== 'dkd-weights') setPath(settings, key, value);
  }
  check(flags['dkd-weights'] === undefined || flags.loss === 'dkd', '--dkd-weights applies to --loss dkd');
  return settings;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let level = target;
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(level[key])) level[key] = {};
    level = level[key] as Record<string, unknown>;
  }
  level[keys[keys.length - 1]] = value;
}

/** `over` on top of `under`, object keys merged one by one (a flag sets optimizer.learningRate, not all of optimizer). */
export function mergeSettings(under: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    merged[key] = isPlainObject(value) && isPlainObject(merged[key]) ? mergeSettings(merged[key], value) : value;
  }
  return merged;
}

/** Every dotted key path that `settings` holds, parents included. */
function pathsOf(settings: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(settings).flatMap(([key, value]) => [
    `${prefix}${key}`,
    ...(isPlainObject(value) ? pathsOf(value, `${prefix}${key}.`) : []),
  ]);
}

/**
 * Paths made absolute, relative paths taken from `base` (the working directory for flags, the file's own
 * folder for a config file), so that report.json names the same files from anywhere.
 */
export function resolvePaths(settings: Record<string, unknown>, base: string): Record<string, unknown> {
  const out = { ...settings };
  const path = (value: unknown) => (typeof value === 'string' ? resolve(base, value) : value);
  for (const key of ['data', 'testData']) if (typeof out[key] === 'string') out[key] = absoluteSource(out[key] as string, base);
  for (const key of ['teacher', 'student']) {
    if (typeof out[key] === 'string' && !isArchitecture(out[key] as string)) out[key] = path(out[key]);
  }
  for (const key of ['teacherLogits', 'teacherTestLogits', 'softLabels', 'out'])
    out[key] = out[key] === undefined ? undefined : path(out[key]);
  const loss = out.loss;
  if (isPlainObject(loss) && typeof loss.module === 'string') {
    out.loss = { ...loss, module: absoluteUnlessUrl(loss.module, base) };
  }
  // Module URLs (file:, data:, node:) stay as they are.
  if (Array.isArray(out.workerImports)) {
    out.workerImports = out.workerImports.map((m) => (typeof m === 'string' ? absoluteUnlessUrl(m, base) : m));
  }
  return Object.fromEntries(Object.entries(out).filter(([, value]) => value !== undefined));
}

/** The run's settings as given: the config file (if any) under the flags, and what the file alone set. */
export async function givenSettings(flags: RunFlags): Promise<{ given: Record<string, unknown>; fromFile?: FileSettings }> {
  const fromFlags = resolvePaths(settingsFromFlags(flags), process.cwd());
  const file = flags.config;
  if (file === undefined) return { given: fromFlags };
  const fromConfig = resolvePaths(await readConfigFile(file), dirname(resolve(file)));
  const overridden = new Set(pathsOf(fromFlags));
  const keys = new Set(pathsOf(fromConfig).filter((path) => !overridden.has(path)));
  return { given: mergeSettings(fromConfig, fromFlags), fromFile: { file, keys } };
}

/** Checks the CLI's own settings (the library checks its options) and fills in their defaults. */
export function checkSettings(given: Record<string, unknown>): RunSettings {
  const want = (ok: boolean, key: string, message: string) => check(ok, `${key} ${message}, got ${JSON.stringify(given[key])}`, [key]);
  const isInt = (value: unknown, min: number) => Number.isInteger(value) && (value as number) >= min;
  const stringOrNull = (key: string) => want(given[key] == null || typeof given[key] === 'string', key, 'must be a string');
  const checkpoint = isPlainObject(given.checkpoint) ? given.checkpoint : {};
  want(given.data === undefined || (typeof given.data === 'string' && given.data !== ''), 'data', 'must be a data source such as mnist');
  for (const key of ['testData', 'teacher', 'student']) stringOrNull(key);
  want(given.out === undefined || (typeof given.out === 'string' && given.out !== ''), 'out', 'must be a folder');
  want(given.limit == null || isInt(given.limit, 1), 'limit', 'must be an integer >= 1');
  const fraction = given.testFraction;
  want(fraction == null || (typeof fraction === 'number' && fraction > 0 && fraction < 1), 'testFraction', 'must lie in (0, 1)');
  const size = given.imageSize;
  want(size == null || (Array.isArray(size) && size.length === 2 && size.every((n) => isInt(n, 1))), 'imageSize', 'must be [H, W]');
  want(given.channels == null || given.channels === 1 || given.channels === 3, 'channels', 'must be 1 or 3');
  want(given.skipBadImages === undefined || typeof given.skipBadImages === 'boolean', 'skipBadImages', 'must be true or false');
  want(given.checkpoint === undefined || isPlainObject(given.checkpoint), 'checkpoint', 'must be a mapping of everySteps and resume');
  check(
    checkpoint.everySteps == null || isInt(checkpoint.everySteps, 1),
    `checkpoint.everySteps must be an integer >= 1, got ${JSON.stringify(checkpoint.everySteps)}`,
    ['checkpoint.everySteps'],
  );
  check(
    checkpoint.resume === undefined || typeof checkpoint.resume === 'boolean',
    `checkpoint.resume must be true or false, got ${JSON.stringify(checkpoint.resume)}`,
    ['checkpoint.resume'],
  );
  // --warmup-steps alone warms up the default, constant, schedule.
  const schedule = given.lrSchedule;
  const lrSchedule = isPlainObject(schedule) && schedule.name === undefined ? { ...schedule, name: 'constant' } : schedule;
  return {
    ...given,
    ...(lrSchedule !== undefined && { lrSchedule }),
    data: (given.data as string | undefined) ?? CLI_DEFAULTS.data,
    testData: (given.testData as string | null | undefined) ?? null,
    limit: (given.limit as number | null | undefined) ?? null,
    testFraction: (fraction as number | null | undefined) ?? null,
    imageSize: (size as [number, number] | null | undefined) ?? null,
    channels: (given.channels as 1 | 3 | null | undefined) ?? null,
    skipBadImages: (given.skipBadImages as boolean | undefined) ?? false,
    out: (given.out as string | undefined) ?? resolve(CLI_DEFAULTS.out),
    teacher: (given.teacher as string | null | undefined) ?? null,
    student: (given.student as string | null | undefined) ?? null,
    checkpoint: {
      everySteps: (checkpoint.everySteps as number | null | undefined) ?? null,
      resume: (checkpoint.resume as boolean | undefined) ?? false,
    },
  } as RunSettings;
}

/** --threads-per-worker N or auto. */
function parseThreads(value: string): number | 'auto' {
  if (value === 'auto') return value;
  check(/^[1-9]\d*$/.test(value), `--threads-per-worker expects an integer >= 1 or auto, got '${value}'`);
  return Number(value);
}

/** --augment shift:N,flip (either part alone too). */
function parseAugment(value: string): { shift?: number; flip?: boolean } {
  const augment: { shift?: number; flip?: boolean } = {};
  for (const part of value.split(',')) {
    const shift = /^shift:(\d+)$/.exec(part);
    if (shift) augment.shift = Number(shift[1]);
    else if (part === 'flip') augment.flip = true;
    else throw new DistillError(`--augment expects shift:N and/or flip, e.g. shift:2,flip; got '${value}'`);
  }
  return augment;
}

/** --loss NAME, or the path of a module of your own; with --dkd-weights A,B, DKD's two weights. */
function parseLoss(name: string, dkdWeights: string | undefined): unknown {
  if (dkdWeights !== undefined) {
    const [targetWeight, nonTargetWeight] = dkdWeights.split(',').map(Number);
    check(
      dkdWeights.split(',').length === 2 && targetWeight >= 0 && nonTargetWeight >= 0,
      `--dkd-weights expects A,B (two numbers >= 0), got '${dkdWeights}'`,
    );
    return { name, targetWeight, nonTargetWeight };
  }
  if (['kd', 'dkd', 'mse-logits'].includes(name)) return name;
  check(/\.(m?js|cjs)$/.test(name), `--loss ${name} is not one of kd, dkd, mse-logits, nor a module path (.mjs or .js)`);
  return { module: name };
}

/** --image-size H,W. */
function parseImageSize(value: string): [number, number] {
  const parts = value.split(',').map(Number);
  check(
    parts.length === 2 && parts.every((n) => Number.isInteger(n) && n > 0),
    `--image-size expects H,W (two positive integers), got '${value}'`,
  );
  return parts as [number, number];
}

/** --teacher-normalize MEANS:STDS, each a comma-separated list (one value per channel, or one for all). */
function parseNormalize(value: string): { mean: number[]; std: number[] } {
  const halves = value.split(':');
  const list = (text: string | undefined) => (text ?? '').split(',').map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
  const [mean, std] = [list(halves[0]), list(halves[1])];
  check(
    halves.length === 2 && mean.every(Number.isFinite) && std.every((s) => Number.isFinite(s) && s > 0),
    `--teacher-normalize expects MEANS:STDS, e.g. 0.2860:0.3530 or 0.485,0.456,0.406:0.229,0.224,0.225, got '${value}'`,
  );
  return { mean, std };
}
