/**
 * Every command's flags, parsed on one path and derived from the option schema (src/options/groups/) and
 * the commands' own options (./commands.ts): the flag tables, --help with each default, and the rewriting
 * of option names into flags in errors.
 *
 * argv is tokenised by node:util parseArgs rather than by hand or a new dependency: it is Node's own,
 * handles `--flag value`, `--flag=value`, positionals and `--`, and, read by its tokens in non-strict mode,
 * leaves the errors to us, so they stay one line with a did-you-mean suggestion.
 */
import { parseArgs } from 'node:util';
import { DistillError, messageOf } from '../errors.js';
import { isPlainObject, nearestName } from '../known-keys.js';
import { OPTION_SCHEMA, type OptionKey, keysOfGroups } from '../options/resolve.js';
import { type DefaultCondition, withConditionalDefaults } from '../options/default-conditions.js';
import { type FlagDecl, type FlagValue, type OptionDecl, isComputed } from '../options/schema.js';
import { COMMANDS, type CommandName, type CommandSpec } from './commands.js';

/** A flag as a command takes it. */
export interface FlagSpec {
  kind: FlagValue;
  /** Shown in --help after the flag, e.g. N or DIR. */
  arg?: string;
  help: string;
  /** The default --help shows. */
  default?: string;
  /** The config-file key (dotted when nested) the flag sets; none for --config and --help. */
  option?: string;
  multiple?: boolean;
  parse?: FlagDecl['parse'];
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

const CONFIG_FLAG: FlagSpec = {
  kind: 'string',
  arg: 'FILE',
  help:
    'settings from a YAML or JSON file, keyed like the library options (epochs, batchSize, optimizer: { learningRate }, ' +
    "data, teacher, ...); flags override it. A run's report.json is one: it reproduces the run",
};
const HELP_FLAG: FlagSpec = { kind: 'boolean', help: 'show this help' };

/** The value at a dotted path below `value`, if any. */
function valueAt(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>((level, key) => (isPlainObject(level) ? level[key] : undefined), value);
}

/** A value as --help writes it. */
const helpValue = (value: unknown) => String(value);

/**
 * The default a flag's help shows: its own, the default at the key it sets, or the option's; with the
 * data-dependent defaults of the `conditions` the command can meet.
 */
function shownDefault(
  decl: Omit<OptionDecl<unknown>, 'group'>,
  flag: FlagDecl,
  conditions?: readonly DefaultCondition[],
): string | undefined {
  if (flag.shownDefault !== undefined) return flag.shownDefault || undefined;
  const below = flag.sets ? flag.sets.split('.').slice(1) : [];
  if (below.length > 0) {
    const value = valueAt(decl.default, below);
    const when =
      decl.defaultWhen && Object.fromEntries(Object.entries(decl.defaultWhen).map(([name, item]) => [name, valueAt(item, below)]));
    return value === undefined ? undefined : withConditionalDefaults(helpValue(value), value, when, helpValue, conditions);
  }
  if (decl.shownDefault !== undefined) return decl.shownDefault;
  const value = decl.default;
  if (isComputed(value)) return value.computed;
  if (value === null || value === undefined || value === false || (Array.isArray(value) && value.length === 0)) return undefined;
  return typeof value === 'object'
    ? JSON.stringify(value)
    : withConditionalDefaults(helpValue(value), value, decl.defaultWhen, helpValue, conditions);
}

function flagsOf(key: string, decl: Omit<OptionDecl<unknown>, 'group'>, conditions?: readonly DefaultCondition[]): [string, FlagSpec][] {
  return (decl.flags ?? []).map((flag) => [
    flag.name,
    {
      kind: flag.value,
      arg: flag.arg,
      help: flag.help ?? decl.description,
      default: shownDefault(decl, flag, conditions),
      option: flag.sets ?? key,
      multiple: flag.multiple,
      parse: flag.parse,
    },
  ]);
}

/** The option keys (schema options) a command takes, in schema order. */
export function commandOptionKeys(command: CommandSpec): OptionKey[] {
  return keysOfGroups(command.groups, 'settings').filter((key) => !command.omit?.includes(key));
}

/** Every flag of a command: --config, its groups' flags, its own, --help. */
export function flagTable(command: CommandSpec): FlagTable {
  const declared = commandOptionKeys(command).flatMap((key) => {
    const decl = OPTION_SCHEMA[key] as OptionDecl<unknown>;
    return flagsOf(key, { ...decl, shownDefault: command.shownDefaults?.[key] ?? decl.shownDefault }, command.defaultConditions);
  });
  const own = Object.entries(command.own).flatMap(([key, decl]) => flagsOf(key, decl));
  return Object.fromEntries([['config', CONFIG_FLAG], ...declared, ...own, ['help', HELP_FLAG]]);
}

export const RUN_FLAGS = flagTable(COMMANDS.run);
export const SWEEP_FLAGS = flagTable(COMMANDS.sweep);
export const LABEL_FLAGS = flagTable(COMMANDS.label);
export const WORKER_FLAGS = flagTable(COMMANDS.worker);
export const MERGE_FLAGS = flagTable(COMMANDS.merge);
export const PREDICT_FLAGS = flagTable(COMMANDS.predict);
/** Each command's flag table, by command name. */
export const FLAG_TABLES: Readonly<Record<CommandName, FlagTable>> = {
  run: RUN_FLAGS,
  sweep: SWEEP_FLAGS,
  label: LABEL_FLAGS,
  worker: WORKER_FLAGS,
  merge: MERGE_FLAGS,
  predict: PREDICT_FLAGS,
};

/** Parsed flags: a value for each flag given, by the flag's name (lists for repeatable flags). */
export type ParsedFlags = Record<string, string | number | boolean | string[] | undefined>;
export type RunFlags = ParsedFlags;
export type LabelFlags = ParsedFlags;
export type WorkerFlags = ParsedFlags;

/** The config-file key (dotted when nested) a flag of `run` sets, or undefined for --help and --config. */
export function keyOfFlag(flag: string, table: FlagTable = RUN_FLAGS): string | undefined {
  return table[flag]?.option;
}

function numberOf(flag: string, kind: FlagValue, raw: string): number {
  const value = Number(raw);
  const ok = raw.trim() !== '' && Number.isFinite(value) && (kind === 'number' || Number.isInteger(value));
  if (!ok) throw new DistillError(`--${flag} expects ${kind === 'int' ? 'an integer' : 'a number'}, got '${raw}'`);
  return value;
}

/**
 * The flag a mistyped one most likely meant: close to a flag's name, or to the name of the option it sets
 * (--learning-rate is --lr, which sets optimizer.learningRate).
 */
function nearestFlag(name: string, table: FlagTable): string | undefined {
  const candidates = Object.entries(table).flatMap(([flag, spec]): [string, string][] => {
    const key = spec.option;
    const forms: [string, string][] = [[flag, `--${flag}`]];
    if (key) forms.push([key, `--${flag}`], [key.slice(key.lastIndexOf('.') + 1), `--${flag}`]);
    return forms;
  });
  return nearestName(name, candidates);
}

/** A command's flags and positional arguments, read from argv. */
export interface CommandLine {
  flags: ParsedFlags;
  positionals: string[];
}

/**
 * Reads argv against a command's flags: `--flag value`, `--flag=value`, switches (and `--flag=false`, to
 * turn off a config file's true), repeatable flags, positionals where the command takes them. Every
 * problem is one line: an unknown flag (with the nearest one), a missing value, a wrong number.
 */
export function parseCommandLine(argv: string[], command: CommandName = 'run'): CommandLine {
  const table = FLAG_TABLES[command];
  const spec = COMMANDS[command];
  const options = Object.fromEntries(
    Object.entries(table).map(([name, flag]) => [
      name,
      { type: flag.kind === 'boolean' ? 'boolean' : 'string', multiple: flag.multiple === true },
    ]),
  ) as Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const flags: ParsedFlags = {};
  const positionals: string[] = [];
  const what = command === 'run' ? '' : ` for ${command}`;
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (!spec.positionals) {
        throw new DistillError(`unexpected argument '${token.value}'; flags look like --epochs 3 (see tfjs-distill ${command} --help)`);
      }
      positionals.push(token.value);
      continue;
    }
    const { name } = token;
    const flag = table[name];
    if (!flag || !token.rawName.startsWith('--')) {
      const suggestion = nearestFlag(name, table);
      throw new DistillError(
        `unknown flag ${token.rawName}${what}${suggestion ? `; did you mean ${suggestion}?` : ` (see tfjs-distill ${command} --help)`}`,
      );
    }
    if (flag.kind === 'boolean') {
      // A switch is on, or given =true or =false (to turn off a config file's true).
      if (token.inlineValue && token.value !== 'true' && token.value !== 'false') {
        throw new DistillError(`--${name} takes no value, or =true or =false`);
      }
      flags[name] = token.value !== 'false';
      continue;
    }
    const raw = token.value;
    if (raw === undefined || (!token.inlineValue && raw.startsWith('--'))) throw new DistillError(`--${name} needs a value (${flag.arg})`);
    const value = flag.kind === 'string' ? raw : numberOf(name, flag.kind, raw);
    if (flag.multiple) flags[name] = [...((flags[name] as string[] | undefined) ?? []), String(value)];
    else flags[name] = value;
  }
  return { flags, positionals };
}

/** Parses the flags of `tfjs-distill run`. */
export function parseRunFlags(argv: string[]): RunFlags {
  return parseCommandLine(argv, 'run').flags;
}

/** True when the arguments ask for help (-h or --help anywhere), whatever else they hold. */
export function asksForHelp(argv: string[]): boolean {
  return argv.some((token) => token === '-h' || token === '--help');
}

/** The flag table of --help, each with its default and the config-file key it sets. */
export function flagHelp(table: FlagTable = RUN_FLAGS): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const left = `  --${name}${spec.arg ? ` ${spec.arg}` : ''}`;
    const notes = [spec.default && `default: ${spec.default}`, spec.option && `key: ${spec.option}`].filter(Boolean);
    return [left, spec.help + (notes.length > 0 ? ` (${notes.join('; ')})` : '')];
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right).join('\n');
}

/** The flag that sets each library option: the first flag that names it (--teacher before --teacher-arch). */
const FLAG_OF_OPTION = new Map<string, string>();
for (const table of Object.values(FLAG_TABLES)) {
  for (const [flag, spec] of Object.entries(table)) {
    if (spec.option && !FLAG_OF_OPTION.has(spec.option)) FLAG_OF_OPTION.set(spec.option, `--${flag}`);
  }
}

/** The settings a config file gave (dotted paths, parents too) that no flag overrode, and the file. */
export interface FileSettings {
  file: string;
  keys: ReadonlySet<string>;
}

/**
 * A library error's message in the CLI's words: every option it names (see DistillError.options) becomes
 * the flag that sets it. Options whose values came from the config file keep their names, and the message
 * then starts with the file.
 */
export function inFlagTerms(error: DistillError, fromFile?: FileSettings): string {
  let message = messageOf(error);
  let inFile = false;
  for (const option of error.options) {
    if (fromFile?.keys.has(option)) {
      inFile = true;
      continue;
    }
    const flag = FLAG_OF_OPTION.get(option);
    if (flag) message = message.replace(new RegExp(`(?<![\\w./-])${option.replace('.', '\\.')}(?![\\w/-]|\\.\\w)`, 'g'), flag);
  }
  return inFile ? `${fromFile!.file}: ${message}` : message;
}
