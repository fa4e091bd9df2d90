/**
 * How the learning rate moves over a phase's steps. Every rate is a pure function of the step, so any
 * worker count and a resumed run follow the same rates, and a checkpoint needs only the step.
 * - `constant`: the base rate;
 * - `cosine`: half a cosine from the base rate down to `minLearningRate` over the steps after the warmup;
 * - `step`: the base rate times `gamma` (default 0.1) after every `everySteps` steps.
 * Each may start with `warmupSteps` of linear warmup towards the base rate.
 */
export type LrSchedule =
  | { name: 'constant'; warmupSteps?: number }
  | { name: 'cosine'; warmupSteps?: number; minLearningRate?: number }
  | { name: 'step'; warmupSteps?: number; everySteps: number; gamma?: number };

export const LR_SCHEDULES = ['constant', 'cosine', 'step'] as const;

/**
 * What a phase does besides the optimizer's own rule, all on the averaged gradient, so the worker count
 * does not change the result: the learning rate's schedule, decoupled weight decay (AdamW's), and
 * clipping the gradient's global L2 norm (null: no clipping).
 */
export interface StepRules {
  lrSchedule: LrSchedule;
  weightDecay: number;
  clipNorm: number | null;
}

/** The learning rate of step `step` (0-based) of a phase of `steps` steps. */
export function learningRateAt(schedule: LrSchedule, base: number, step: number, steps: number): number {
  const warmup = schedule.warmupSteps ?? 0;
  if (step < warmup) return (base * (step + 1)) / warmup;
  switch (schedule.name) {
    case 'constant':
      return base;
    case 'cosine': {
      const min = schedule.minLearningRate ?? 0;
      const span = Math.max(1, steps - warmup);
      return min + ((base - min) * (1 + Math.cos((Math.PI * (step - warmup)) / span))) / 2;
    }
    case 'step':
      return base * (schedule.gamma ?? 0.1) ** Math.floor((step - warmup) / schedule.everySteps);
  }
}
