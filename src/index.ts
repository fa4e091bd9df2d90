/**
 * tfjs-distill: knowledge distillation for TensorFlow.js on multi-core machines.
 *
 * ```ts
 * import { distill, loadIdx, buildModel } from 'tfjs-distill';
 * const train = await loadIdx('/usr/share/datasets/fashion-mnist', 'train');
 * const test = await loadIdx('/usr/share/datasets/fashion-mnist', 'test');
 * const { student, report } = await distill({ teacher: 'runs/teacher/model.json', student, train, test });
 * ```
 */
export { distill, type DistillResult } from './distill/distill.js';
export { DEFAULTS, type DistillOptions } from './distill/options.js';
export type { OptimizerSpec } from './distill/optimizers.js';
export type { Phase, ProgressEvent } from './distill/progress.js';
export type { BaselineReport, DistillReport, ModelReport, StepBreakdown, StudentReport, TrainingPhaseReport } from './distill/report.js';

export { type Dataset, keepLabels, labeledCount, splitDataset, takeRows } from './data/dataset.js';
export { loadIdx } from './data/idx.js';
export { loadCsv } from './data/csv.js';
export { loadMnist } from './data/mnist.js';

export { buildModel, type BuildModelOptions } from './models/architectures.js';
export { loadModel, saveModel } from './models/model-files.js';
export type { BackendChoice, KernelsUsed } from './models/backend.js';
export type { KernelChoice } from './models/kernel-choice.js';

export { DistillCancelledError, DistillError } from './errors.js';
