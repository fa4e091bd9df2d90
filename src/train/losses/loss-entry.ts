import type * as tf from '@tensorflow/tfjs';

/** One slice of a batch, as tensors. */
export interface LossInputs {
  /** [n, classes] student logits. */
  student: tf.Tensor2D;
  /** [n, classes] teacher logits (the soft labels); absent for losses that do not need them. */
  teacher?: tf.Tensor2D;
  /** [n] int32 class indices; -1 marks an unlabeled row. */
  labels: tf.Tensor1D;
}

/** The spec fields the run fills in (the name, and temperature and alpha where the loss uses them). */
type RunFilledKey = 'name' | 'temperature' | 'alpha';

/** The fields of a loss's spec that are its own parameters, set in the `loss` option. */
export type LossParameterName<S> = Exclude<keyof S, RunFilledKey>;

/** One parameter of a loss: its default, its check, and what the check wants (for the error). */
export interface LossParameter<V> {
  description: string;
  /** Used when the option leaves the parameter out; without one, the option must give it. */
  default?: V;
  /** Whether an option's value is valid. */
  accepts(value: unknown): boolean;
  /** What a valid value is, for the error: `loss.<name> must be <expects>, got ...`. */
  expects: string;
  /** A value as an error shows it, for a pickedBy parameter: `'path/to/loss.mjs'`. */
  example?: string;
  /** Turns the option's value into the spec's, on the main thread (e.g. a module path into a URL). */
  resolve?(value: V): V;
}

/**
 * A loss as the registry holds it. `S` is the loss's spec, the plain object every worker receives: its
 * `name`, `temperature` when it uses one, `alpha` when it has a teacher term (alpha * D + (1 - alpha) * CE),
 * and its own parameters.
 */
export interface LossEntry<S extends { name: string }> {
  name: S['name'];
  /** One line, for --help, the docs and unknown-name errors. */
  description: string;
  /** Whether the spec carries the run's temperature. */
  usesTemperature: boolean;
  /** Whether it needs the teacher's logits; such losses are the distillation losses, weighed by alpha. */
  usesTeacher: boolean;
  /** An option object with this key picks the loss without naming it (`{ module }` picks `custom`). */
  pickedBy?: LossParameterName<S>;
  parameters: { [K in LossParameterName<S>]: LossParameter<S[K]> };
  /** Runs once per thread before the first meanLoss with `spec` (e.g. imports a module). */
  prepare?(spec: S): Promise<void>;
  /** The mean loss over the slice's rows, differentiable with respect to the student's logits. */
  meanLoss(spec: S, inputs: LossInputs): tf.Scalar;
}

/** Any registered loss, as code that dispatches by name sees it. */
export interface RegisteredLoss {
  name: string;
  description: string;
  usesTemperature: boolean;
  usesTeacher: boolean;
  pickedBy?: string;
  parameters: Record<string, LossParameter<unknown>>;
  prepare?(spec: { name: string }): Promise<void>;
  meanLoss(spec: { name: string }, inputs: LossInputs): tf.Scalar;
}

/** A number parameter that must be finite and at least `min`. */
export function numberAtLeast(min: number, description: string, defaultValue: number): LossParameter<number> {
  return {
    description,
    default: defaultValue,
    accepts: (value) => typeof value === 'number' && Number.isFinite(value) && value >= min,
    expects: `a number >= ${min}`,
  };
}
