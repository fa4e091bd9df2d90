import * as tf from '@tensorflow/tfjs';
import type { OptimizerState } from './checkpoint.js';

/** The optimizer every replica runs on the averaged gradient. */
export interface OptimizerSpec {
  name: 'adam' | 'sgd' | 'momentum';
  learningRate: number;
}

const MOMENTUM = 0.9;

const OPTIMIZERS: Record<OptimizerSpec['name'], (learningRate: number) => tf.Optimizer> = {
  adam: (lr) => tf.train.adam(lr),
  sgd: (lr) => tf.train.sgd(lr),
  momentum: (lr) => tf.train.momentum(lr, MOMENTUM),
};

export const OPTIMIZER_NAMES = Object.keys(OPTIMIZERS) as OptimizerSpec['name'][];

export function createOptimizer(spec: OptimizerSpec): tf.Optimizer {
  return OPTIMIZERS[spec.name](spec.learningRate);
}

/** The optimizer's state, for a checkpoint: its step count and its slot variables, in order. */
export async function exportOptimizerState(optimizer: tf.Optimizer): Promise<OptimizerState> {
  const [iterations, ...slots] = await optimizer.getWeights();
  const values = new Float32Array(slots.reduce((sum, slot) => sum + slot.tensor.size, 0));
  let offset = 0;
  for (const slot of slots) {
    values.set(await slot.tensor.data<'float32'>(), offset);
    offset += slot.tensor.size;
  }
  return {
    iterations: (await iterations.tensor.data())[0],
    tensors: slots.map((slot) => ({ name: slot.name, shape: slot.tensor.shape })),
    values,
  };
}

/** Restores a state written by {@link exportOptimizerState} into a fresh optimizer of the same kind. */
export async function importOptimizerState(optimizer: tf.Optimizer, state: OptimizerState): Promise<void> {
  let offset = 0;
  const slots = state.tensors.map(({ name, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const tensor = tf.tensor(state.values.subarray(offset, offset + size), shape);
    offset += size;
    return { name, tensor };
  });
  const iterations = tf.scalar(state.iterations, 'int32');
  try {
    await optimizer.setWeights([{ name: 'iter', tensor: iterations }, ...slots]);
  } finally {
    iterations.dispose();
    for (const slot of slots) slot.tensor.dispose();
  }
}
