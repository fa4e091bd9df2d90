import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { isArchitectureSpec } from '../models/architectures.js';
import type { DistillConfig } from '../options/options.js';
import { absoluteOptionPaths } from '../options/option-paths.js';
import { OPTION_ALIASES, OPTION_SCHEMA, defaultOf, keyTreeOf, keysOfGroups } from '../options/resolve.js';
import { type CliSettings, CLI_MODEL_DEFAULTS, OPTION_GROUPS, type OptionDecl } from '../options/schema.js';
import { DistillError, check, messageOf } from '../errors.js';
import { type KeyTree, isPlainObject, unknownKey, unknownKeyMessage } from '../known-keys.js';
import type { OptimizerSpec } from '../train/optimizers.js';
import { COMMANDS, type CommandName, type CommandSpec } from './commands.js';
import { type FileSettings, type FlagTable, type ParsedFlags, RUN_FLAGS, commandOptionKeys, flagTable } from './flags.js';

export type { CliSettings } from '../options/schema.js';

/**
 * A CLI run's settings: the library's options, with the models named by a path or an architecture
 * (mlp:..., cnn:...; null for the default) and the checkpoint folder kept under `out`, and the CLI's own
 * settings. A config file holds any part of it; report.json's `config` holds all of it but `out` and
 * `checkpoint.resume`.
 */
export type RunSettings = Partial<Omit<DistillConfig, 'optimizer'>> &
  CliSettings & {
    /** A list: an ensemble of saved teachers. */
    teacher: string | string[] | null;
    student: string | null;
    optimizer?: Partial<OptimizerSpec>;
    checkpoint: { everySteps: number | null; resume: boolean };
  };

/**
 * Every key a config file of `run` may hold: the options of run's groups (so an option declared there is a
 * key here too), a checkpoint without its folder, which is always `out`/.checkpoint.
 */
export const RUN_KEYS: KeyTree = commandKeyTree(COMMANDS.run);

/** The keys a command takes in a config file: its groups' options and its own. */
export function commandKeyTree(command: CommandSpec): KeyTree {
  return {
    ...keyTreeOf(commandOptionKeys(command), 'settings'),
    ...Object.fromEntries(Object.keys(command.own).map((key) => [key, null])),
  };
}

/**
 * The keys any config file may hold: every command's. A file may describe more than a command takes (a run's
 * report.json given to label), and each command reads the keys it takes; an unknown key is still refused.
 */
function fileKeyTree(command: CommandSpec): KeyTree {
  return { ...keyTreeOf(keysOfGroups(OPTION_GROUPS, 'settings'), 'settings'), ...commandKeyTree(command) };
}

/** What the CLI uses when neither a flag nor the config file says (declared with the options, for their help). */
export const CLI_DEFAULTS = CLI_MODEL_DEFAULTS;

/**
 * The teacher a run builds when none is named: for token-id rows (`vocabSize` given) a 1-D convolution,
 * convolutions for image rows, dense layers otherwise.
 */
export function defaultTeacher(featureShape: number[], vocabSize?: number): string {
  if (vocabSize !== undefined) return CLI_DEFAULTS.teacherForTokens;
  // Two 2x2 pools need 4x4 pixels at least; smaller or flat rows get dense layers.
  const [height, width] = featureShape;
  const images = (featureShape.length === 2 || featureShape.length === 3) && height >= 4 && width >= 4;
  return images ? CLI_DEFAULTS.teacherForImages : CLI_DEFAULTS.teacherForVectors;
}

/** The student a run builds when none is named: a bag of embeddings for token-id rows, else an MLP. */
export function defaultStudent(vocabSize?: number): string {
  return vocabSize !== undefined ? CLI_DEFAULTS.studentForTokens : CLI_DEFAULTS.student;
}

/** A model named by an architecture (built by the run) rather than a path; ./mlp:32 names a file. */
export const isArchitecture = isArchitectureSpec;

/** Reads a config file (YAML, or JSON), or the `config` of a report.json, with the keys `command` may be given. */
export async function readConfigFile(file: string, command: CommandName = 'run'): Promise<Record<string, unknown>> {
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
  const keys = fileKeyTree(COMMANDS[command]);
  const unknown = unknownKey(settings, keys, keyAliases(flagTable(COMMANDS[command])));
  check(!unknown, () => `${file}: ${unknownKeyMessage('key', unknown!, keys)}`);
  return settings;
}

/** Other names for keys: each flag's name for the key it sets (lr, batch-size, teacher-arch), and the library's aliases. */
function keyAliases(table: FlagTable): Record<string, string> {
  const flags = Object.entries(table).flatMap(([flag, spec]) => (spec.option ? [[flag, spec.option] as const] : []));
  return { ...Object.fromEntries(flags), ...OPTION_ALIASES };
}

/** The settings the flags give, as config-file keys: each flag's value, read by its declaration, at the key it sets. */
export function settingsFromFlags(flags: ParsedFlags, table: FlagTable = RUN_FLAGS): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const [flag, raw] of Object.entries(flags)) {
    const spec = table[flag];
    if (spec?.option === undefined || raw === undefined) continue;
    const read = (value: unknown) => (spec.parse ? spec.parse(value as never, flags) : value);
    // A repeatable flag's parse may give several values at once (--quantize uint8,float16).
    const value = Array.isArray(raw) ? raw.flatMap(read) : read(raw);
    if (value !== undefined) setPath(settings, spec.option, value);
  }
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
 * folder for a config file), so that report.json names the same files from anywhere (see absoluteOptionPaths).
 */
export function resolvePaths(settings: Record<string, unknown>, base: string): Record<string, unknown> {
  const out = absoluteOptionPaths(settings, base);
  // --teacher given once is that teacher; more often (or a list in a config file), an ensemble.
  if (Array.isArray(out.teacher) && out.teacher.length === 1) out.teacher = out.teacher[0];
  return out;
}

/**
 * A command's settings as given: the config file (if any) under the flags, and what the file alone set.
 * Of the file, only the keys the command takes are kept.
 */
export async function givenSettings(
  flags: ParsedFlags,
  command: CommandName = 'run',
): Promise<{ given: Record<string, unknown>; fromFile?: FileSettings }> {
  const fromFlags = resolvePaths(settingsFromFlags(flags, flagTable(COMMANDS[command])), process.cwd());
  const file = flags.config;
  if (typeof file !== 'string') return { given: fromFlags };
  const taken = commandKeyTree(COMMANDS[command]);
  const inFile = await readConfigFile(file, command);
  const fromConfig = resolvePaths(Object.fromEntries(Object.entries(inFile).filter(([key]) => key in taken)), dirname(resolve(file)));
  const overridden = new Set(pathsOf(fromFlags));
  const keys = new Set(pathsOf(fromConfig).filter((path) => !overridden.has(path)));
  return { given: mergeSettings(fromConfig, fromFlags), fromFile: { file, keys } };
}

/**
 * Checks the CLI's own settings of a command (the library checks its options) and fills in their defaults:
 * those of the CLI-only options of its groups, and of its command-only options.
 */
export function checkCommandSettings(given: Record<string, unknown>, command: CommandSpec): Record<string, unknown> {
  const settings: Record<string, unknown> = { ...given };
  const cliKeys = commandOptionKeys(command).filter(
    (key) => (OPTION_SCHEMA[key] as OptionDecl<unknown>).scope === 'cli' || key === 'checkpoint',
  );
  // Command-only options keep their defaults in the library function that takes them (jobRows, stallSeconds).
  const own = Object.entries(command.own).map(([key, decl]) => [key, decl.check, undefined] as const);
  const declared = cliKeys.map((key) => {
    const decl = OPTION_SCHEMA[key] as OptionDecl<unknown>;
    return [key, decl.check, key === 'checkpoint' ? undefined : defaultOf(key)] as const;
  });
  for (const [key, problemOf, fallback] of [...declared, ...own]) {
    const value = given[key];
    const problem = value === undefined || !problemOf ? undefined : problemOf(value);
    if (typeof problem === 'string') throw new DistillError(problem, [key]);
    if (problem) throw new DistillError(problem.message, problem.options);
    if (value === undefined && fallback !== undefined) settings[key] = fallback;
  }
  return settings;
}

/** Checks `run`'s own settings (the library checks its options) and fills in their defaults. */
export function checkSettings(given: Record<string, unknown>): RunSettings {
  check(
    given.checkpoint === undefined || isPlainObject(given.checkpoint),
    `checkpoint must be a mapping of everySteps and resume, got ${JSON.stringify(given.checkpoint)}`,
    ['checkpoint'],
  );
  const settings = checkCommandSettings(given, COMMANDS.run);
  const checkpoint = isPlainObject(given.checkpoint) ? given.checkpoint : {};
  // --warmup-steps alone warms up the default, constant, schedule.
  const schedule = given.lrSchedule;
  const lrSchedule = isPlainObject(schedule) && schedule.name === undefined ? { ...schedule, name: 'constant' } : schedule;
  return {
    ...settings,
    ...(lrSchedule !== undefined && { lrSchedule }),
    out: resolve(settings.out as string),
    teacher: (given.teacher as string | string[] | null | undefined) ?? null,
    student: (given.student as string | null | undefined) ?? null,
    checkpoint: {
      everySteps: (checkpoint.everySteps as number | null | undefined) ?? null,
      resume: (checkpoint.resume as boolean | undefined) ?? false,
    },
  } as RunSettings;
}
