import type * as tf from '@tensorflow/tfjs';
import { check } from '../../errors.js';

/** What a family's layers are built from. */
export interface ArchitectureContext {
  /** The whole spec, e.g. `cnn:16,32`, for errors. */
  spec: string;
  /** Shape of one input row. */
  inputShape: number[];
  /** The number of token ids (id 0 is padding) when the rows are token ids; undefined for feature or image rows. */
  vocabSize?: number;
  /** The next seeded kernel initializer; every weighted layer takes one, in order. */
  kernel(): ReturnType<typeof tf.initializers.glorotUniform>;
}

/** One model family: `mlp:32` names the family `mlp` with arguments `32`. */
export interface ArchitectureEntry {
  name: string;
  /** The spec's form, e.g. `mlp:W1,W2,...`. */
  usage: string;
  /** What the arguments are, for the unknown-spec error: `hidden layer widths`. */
  arguments: string;
  /** A spec that works, e.g. `mlp:64`. */
  example: string;
  /** One line, for --help and the docs. */
  description: string;
  /**
   * The rows it takes: feature rows of any shape, images ([H, W] or [H, W, C]), or token ids ([maxLength],
   * 0 for padding; buildModel then needs vocabSize).
   */
  rows: 'any' | 'images' | 'tokens';
  /**
   * What lies between the input layer and the output layer (dense, numClasses units, logits), which
   * buildModel adds; undefined when `args` is not of the family's form.
   */
  layers(args: string, context: ArchitectureContext): ArchitectureBody | undefined;
}

/**
 * A chain of layers (a sequential model), or, for a family whose layers branch, a function from the input
 * tensor to the last hidden tensor (a functional model).
 */
export type ArchitectureBody = tf.layers.Layer[] | ((input: tf.SymbolicTensor) => tf.SymbolicTensor);

/** `A,B` (exactly `count` comma-separated integers, each >= 1) as numbers; undefined when it is not of that form. */
export function fixedWidths(args: string, spec: string, count: number): number[] | undefined {
  const widths = widthList(args, spec);
  return widths?.length === count ? widths : undefined;
}

/** `W1,W2,...` as numbers, each >= 1; undefined when it is not a comma-separated list of integers. */
export function widthList(args: string, spec: string): number[] | undefined {
  if (!/^\d+(?:,\d+)*$/.test(args)) return undefined;
  const widths = args.split(',').map(Number);
  check(
    widths.every((w) => w >= 1),
    `architecture '${spec}' has a layer of width 0: every width must be >= 1`,
  );
  return widths;
}
