import type * as tf from '@tensorflow/tfjs';
import { ClassCountMismatch, check } from '../errors.js';

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The input row shape (without the batch dimension) of a single-input model. */
export function modelInputShape(model: tf.LayersModel, role: string): number[] {
  check(model.inputs.length === 1, `the ${role} has ${model.inputs.length} inputs; tfjs-distill needs a model with one input`);
  const shape = model.inputs[0].shape.slice(1);
  check(
    shape.every((d): d is number => typeof d === 'number' && d > 0),
    `the ${role}'s input shape [${shape}] has unknown dimensions; give it a fixed inputShape`,
  );
  return shape;
}

/**
 * Checks that a model can read the data's rows and predicts its classes. A row may be reshaped (a [28, 28]
 * image feeds a model that takes [784] or [28, 28, 1]), so the number of values must match, not the shape.
 */
export function checkModelFitsData(model: tf.LayersModel, role: string, featureShape: number[], numClasses: number): void {
  const inputShape = modelInputShape(model, role);
  check(
    product(inputShape) === product(featureShape),
    `the ${role} takes rows of shape [${inputShape}] (${product(inputShape)} values) but the data's rows have shape ` +
      `[${featureShape}] (${product(featureShape)} values); give a ${role} built for this data`,
  );
  check(model.outputs.length === 1, `the ${role} has ${model.outputs.length} outputs; tfjs-distill needs one output of class logits`);
  const outputShape = model.outputs[0].shape;
  const classes = outputShape[outputShape.length - 1];
  if (outputShape.length !== 2 || classes !== numClasses) {
    throw new ClassCountMismatch(
      `the ${role} outputs shape [${outputShape.slice(1)}] but the data has ${numClasses} classes; its last layer needs ${numClasses} units`,
      classes ?? Number.NaN,
    );
  }
}
