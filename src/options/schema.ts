/**
 * The shape of the option schema: every option (library option, config-file key, CLI flag) is declared
 * once, in src/options/groups/, with its group, default, description, check and flags. The defaults, the
 * strict key trees, the validation, the CLI's flags and --help, and docs/options.md are all derived from
 * those declarations (see ./resolve.ts and ../cli/flags.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import type { TeacherView } from '../data/sources/source-entry.js';
import type { KeyTree } from '../known-keys.js';
import { QUANTIZATION_DTYPES, type QuantizationDtype } from '../models/quantize.js';
import type { ProgressEvent } from '../progress.js';
import type { DefaultCondition } from './default-conditions.js';
import type { DistillConfig, DistillOptions } from './options.js';

/** The groups options come in; each entry point resolves the groups it uses, and each command takes some. */
export const OPTION_GROUPS = ['data', 'teacher', 'student', 'training', 'labelling', 'runtime', 'checkpoint', 'output', 'queue'] as const;
export type OptionGroup = (typeof OPTION_GROUPS)[number];

/** The settings only the CLI has: where the data comes from, and where the outputs go. */
export interface CliSettings {
  /** mnist, idx:DIR, csv:FILE, npy:X.npy,Y.npy, images:DIR or text:FILE. */
  data: string;
  /** The test split of a CSV, NPY or text source (csv:FILE, npy:X.npy,Y.npy, text:FILE); null: held out from data. */
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
  /** Text files: the tokenizer (a tokenizer.json, or its folder). */
  tokenizer: string | null;
  /** Text files: the tokens a row keeps; null: the tokenizer's maximum length. */
  maxLength: number | null;
  /** Text files: the field or column of the text. */
  textField: string;
  /** Text files: the field or column of the label; tables: the label column; null: label (text), label, target or class, else the first column (tables). */
  labelField: string | null;
  /** Tables: the feature columns, in order; null: every named column but the label. */
  features: string[] | null;
  /** Text files: the field or column of a sentence pair's second text; null: single texts. */
  textPairField: string | null;
  /** Text files and tables: the class names in output order; null: the sorted labels. */
  classes: string[] | null;
  /** Text files with augment mask or ngram: the augmented copies of each training row; null: 1. */
  augmentCopies: number | null;
  /** The folder of the outputs. */
  out: string;
  /** The quantised variants of the student to write beside it; `auto`: the smallest within maxQuantizeDrop. */
  quantize: QuantizeChoice[];
  /** The most test accuracy, in percentage points, a variant may lose against the float32 student unwarned. */
  maxQuantizeDrop: number;
  /**
   * Other formats to write the student in beside model.json (`onnx`: student/model.onnx; `onnx-uint8`:
   * student/model-uint8.onnx, its kernels stored as uint8), each checked on the test rows.
   */
  export: ExportFormat[];
}

/** An `export` value: a format the student is also written in. */
export type ExportFormat = 'onnx' | 'onnx-uint8';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['onnx', 'onnx-uint8'];

/** A `quantize` value: a variant's weight format, or `auto` for the smallest variant within maxQuantizeDrop. */
export type QuantizeChoice = QuantizationDtype | 'auto';
export const QUANTIZE_CHOICES: readonly QuantizeChoice[] = [...QUANTIZATION_DTYPES, 'auto'];

/** What the CLI builds and uses when neither a flag nor a config file says; the schema's help shows them. */
export const CLI_MODEL_DEFAULTS = {
  student: 'mlp:32',
  /** For token-id rows (text): a bag of embeddings, about half a default text teacher's parameters. */
  studentForTokens: 'bag:32',
  /** Convolutions for image rows, dense layers for feature vectors, which convolutions cannot take. */
  teacherForImages: 'cnn:32,64',
  teacherForVectors: 'mlp:128,64',
  /** For token-id rows (text): a 1-D convolution over the embedded tokens. */
  teacherForTokens: 'cnn1d:64,128',
  /** Epochs of teacher training when the run builds the teacher and teacherEpochs is not given. */
  builtTeacherEpochs: 5,
  /** The share of a CSV or NPY source's rows (a text file's labelled rows) held out for testing, without testData. */
  testFraction: 0.2,
} as const;

/** Settings of labelling across machines (`label --queue` and `worker`). */
export interface QueueSettings {
  /**
   * Seconds the coordinator or a worker keeps going while Redis cannot be reached, before it stops with a
   * one-line error.
   */
  queueTimeoutSeconds: number;
}

/** The value each declared option holds once resolved: what the declarations' checks and defaults are typed by. */
export type OptionValues = DistillConfig &
  CliSettings &
  QueueSettings & {
    teacher: tf.LayersModel | string | readonly (tf.LayersModel | string)[] | null;
    student: tf.LayersModel | string | null;
    train: Dataset;
    test: Dataset;
    teacherView: TeacherView | null;
    onProgress: (event: ProgressEvent) => void;
    signal: AbortSignal;
    checkpoint: NonNullable<DistillOptions['checkpoint']>;
  };

/** A default worked out when the option is resolved (the machine's cores, an environment variable), described for help. */
export interface ComputedDefault<T> {
  computed: string;
  value: () => T;
  /** What DEFAULTS lists instead, where `value` reads the environment, which is read (and checked) only when resolving. */
  listed?: T;
}

/** What a problem with a value is: a one-line message, naming the option (or the keys named in `options`). */
export type Problem = string | { message: string; options: string[] };

/** How a flag's text is read before its `parse`: parseArgs' string, checked as a number, or a switch. */
export type FlagValue = 'string' | 'int' | 'number' | 'boolean';

/** A command-line flag that sets an option (several may set one option). */
export interface FlagDecl {
  /** Without the dashes: 'batch-size'. */
  name: string;
  value: FlagValue;
  /** The placeholder in --help: N, FILE, SPEC. Switches have none. */
  arg?: string;
  /** The dotted key the flag sets, when not the option's own (--lr sets optimizer.learningRate). */
  sets?: string;
  /** The flag may be given again; each adds a value to a list (--import), or several when its parse returns a list. */
  multiple?: boolean;
  /**
   * Turns the read value into the option's value (it may check it, naming the flag); `flags` holds every
   * flag given, by name, for flags read together (--loss with --dkd-weights). Returning undefined sets nothing.
   */
  parse?: (value: never, flags: Readonly<Record<string, unknown>>) => unknown;
  /** --help's line, when it says more than the option's description. */
  help?: string;
  /** The default --help shows, when it is not the option's. */
  shownDefault?: string;
}

/** One option, declared once. */
export interface OptionDecl<T> {
  group: OptionGroup;
  /** Where the option exists: the library's functions only (data in memory, callbacks), the CLI only, or (default) both. */
  scope?: 'library' | 'cli';
  /** One line: what the option does. */
  description: string;
  /** The default: a value, or one computed when resolved. None: the option is required, or stays unset. */
  default?: T | ComputedDefault<T>;
  /**
   * The defaults that depend on the training data, by condition (./default-conditions.ts): `{ text: 32 }`
   * for token-id rows, `{ mostlyLabelled: 1 }` when most rows keep their labels; --help and the docs show them.
   */
  defaultWhen?: Partial<Record<DefaultCondition, T>>;
  /** The default --help and the docs show, when the value alone does not say it. */
  shownDefault?: string;
  /** An object default that a given object is merged over, key by key (a given optimizer keeps the default's name). */
  mergeDefault?: boolean;
  /** The problem with a given (resolved) value, or undefined when it is fine. */
  check?: (value: T) => Problem | undefined;
  /** The keys of an object option, checked strictly. */
  keys?: KeyTree;
  /** The keys a config file may hold, when fewer than the library's (a checkpoint's folder is always under `out`). */
  fileKeys?: KeyTree;
  flags?: FlagDecl[];
}

/** A group's table: option key -> declaration, typed by the key's value. */
export type OptionTable<K extends keyof OptionValues = keyof OptionValues> = { [P in K]: OptionDecl<OptionValues[P]> };

/**
 * Declares options; each key must be an option (see OptionValues), each check is typed by its value, and
 * each group stays a literal type, so that a function's config can be typed by the groups it resolves.
 */
export function defineOptions<const T extends { [P in keyof T]: P extends keyof OptionValues ? OptionDecl<OptionValues[P]> : never }>(
  table: T,
): T {
  return table;
}

/** A rule about several options together, checked when every option it names is resolved. */
export interface OptionRule {
  options: readonly (keyof OptionValues)[];
  /** `given` holds the options as given, before defaults. */
  check: (config: Partial<OptionValues>, given: Partial<OptionValues>) => string | undefined;
}

export const isInt = (value: unknown, min: number): value is number => Number.isInteger(value) && (value as number) >= min;
export const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** A check that `value` is one of `choices` (read from the list the code runs on, never retyped). */
export const oneOf =
  <T>(key: string, choices: readonly T[]) =>
  (value: T): Problem | undefined =>
    choices.includes(value) ? undefined : `${key} '${value}' is not one of ${choices.join(', ')}`;

/** A check that a value is null or a string. */
export const stringOrNull =
  (key: string) =>
  (value: unknown): Problem | undefined =>
    value === null || typeof value === 'string' ? undefined : `${key} must be a string, got ${value}`;

export const isComputed = <T>(value: T | ComputedDefault<T> | undefined): value is ComputedDefault<T> =>
  typeof value === 'object' && value !== null && 'computed' in value && typeof (value as ComputedDefault<T>).value === 'function';

/** What runs a layers teacher's inference (see DistillOptions.teacherRuntime). */
export type TeacherRuntime = 'auto' | 'tfjs' | 'onnxruntime';
export const TEACHER_RUNTIMES: readonly TeacherRuntime[] = ['auto', 'tfjs', 'onnxruntime'];
