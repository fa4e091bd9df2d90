import * as tf from '@tensorflow/tfjs';

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
