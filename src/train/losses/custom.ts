import { importSpecifier } from '../../url-or-path.js';
import tf from '../../tf.cjs';
import { DistillError } from '../../errors.js';
import { hardLoss } from './hard.js';
import type { LossEntry } from './loss-entry.js';

/**
 * A loss of the user's own: the default export of a module every worker imports. It gets the slice's
 * tensors and returns the distillation term D as a scalar (tfjs differentiates it); tfjs-distill adds
 * `(1 - alpha) * CE` on the labelled rows and weighs D by `alpha`.
 */
export type CustomLossFunction = (
  inputs: { student: tf.Tensor2D; teacher: tf.Tensor2D; labels: tf.Tensor1D },
  settings: { temperature: number; options: Record<string, unknown> },
) => tf.Scalar;

export interface CustomSpec {
  name: 'custom';
  /** The module's URL (a path in the option, made a file URL on the main thread). */
  module: string;
  temperature: number;
  alpha: number;
  options: Record<string, unknown>;
}

/** Modules of custom losses, imported once per thread (see {@link loadCustomLoss}). */
const customLosses = new Map<string, CustomLossFunction>();

/** Imports a custom loss's module in this thread; call it before the first meanLoss with it. */
export async function loadCustomLoss(module: string): Promise<void> {
  if (customLosses.has(module)) return;
  const loaded = (await import(module)) as { default?: unknown };
  if (typeof loaded.default !== 'function') {
    throw new DistillError(`the loss module ${module} has no default export of a function (inputs, settings) => tf.Scalar`, ['loss']);
  }
  customLosses.set(module, loaded.default as CustomLossFunction);
}

/** D from a module every worker imports (see {@link CustomLossFunction}), differentiated by tfjs. */
export const customLoss: LossEntry<CustomSpec> = {
  name: 'custom',
  description: 'a module of your own, { module: path.mjs, options }, whose default export computes D',
  usesTemperature: true,
  usesTeacher: true,
  pickedBy: 'module',
  parameters: {
    module: {
      description: 'path or URL of the module',
      accepts: (value) => typeof value === 'string',
      expects: 'a module path',
      example: "'path/to/loss.mjs'",
      resolve: importSpecifier,
    },
    options: {
      description: "passed to the module's function as settings.options",
      default: {},
      accepts: (value) => typeof value === 'object' && value !== null,
      expects: 'an object',
    },
  },
  prepare: (spec) => loadCustomLoss(spec.module),
  // alpha * D (the user's function, differentiated by tfjs) + (1 - alpha) * CE on the labelled rows.
  meanLoss(spec, { student, teacher, labels }) {
    const distillation = customLosses.get(spec.module);
    if (!distillation) throw new Error(`custom loss ${spec.module} used before loadCustomLoss`);
    const d = distillation({ student, teacher: teacher!, labels }, { temperature: spec.temperature, options: spec.options });
    if (spec.alpha === 1) return tf.mul(d, 1) as tf.Scalar;
    return tf.add(tf.mul(d, spec.alpha), tf.mul(hardLoss.meanLoss({ name: 'hard' }, { student, labels }), 1 - spec.alpha)) as tf.Scalar;
  },
};
