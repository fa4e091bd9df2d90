import { check } from '../errors.js';
import type { CheckedModel } from '../models/checked-model.js';
import { type ModelData, shareModel } from '../models/model-data.js';
import type { DistillConfig } from '../options/options.js';
import type { TrainingPhase } from '../progress.js';
import type { TrainingPhaseReport } from '../reports/report.js';
import { type PhaseValidation, type TrainOutcome, type TrainSpec, trainDataParallel } from '../train/data-parallel.js';
import type { StepRules } from '../train/lr-schedule.js';
import type { OptimizerSpec } from '../train/optimizers.js';
import { type PhasePlan, planPhase } from '../train/plan.js';
import type { RunContext } from './run-context.js';

/** What a stage says about its phase; the run supplies the rest (optimizer, checkpoint, progress). */
export type PhaseSpec = Omit<TrainSpec, 'model' | 'optimizer' | 'onProgress' | 'signal' | 'trainableParams' | 'onNonFinite'>;

/**
 * Trains `from` as `spec` says, under the supervisor (which restarts the pool after a failure). A phase its
 * checkpoint shows finished is not trained again; one it shows begun continues from there.
 */
export function trainPhase(run: RunContext, from: CheckedModel, spec: PhaseSpec): Promise<ModelData> {
  const { config, checkpoints, resumed, onProgress } = run;
  const { signal } = run.options;
  return run.supervisor.run(spec.phase, async (pool) => {
    const saved = await checkpoints?.loadPhase(spec.phase);
    check(
      !saved || saved.steps === spec.plan.steps,
      `checkpoint ${checkpoints?.phaseFile(spec.phase)} is for ${saved?.steps} steps, this run needs ${spec.plan.steps}; ` +
        'delete the checkpoint folder',
    );
    const start = saved ? { ...from.data, weights: saved.weights } : from.data;
    const ranks = spec.plan.workers;
    let outcome: TrainOutcome;
    const finished = saved !== undefined && (saved.progress.step === spec.plan.steps || saved.selection?.stopped === true);
    if (finished) {
      const weights = spec.validation?.keep === 'best' && saved.bestWeights ? saved.bestWeights : saved.weights;
      outcome = {
        ...saved.progress,
        steps: saved.progress.step,
        weights,
        timings: [],
        firstStepSeconds: 0,
        selection: saved.selection,
      };
      resumed.push(spec.phase);
    } else {
      if (saved) resumed.push(`${spec.phase} from step ${saved.progress.step}`);
      outcome = await trainDataParallel(pool.firstRanks(ranks), {
        ...spec,
        model: shareModel(start),
        trainableParams: from.trainableParams,
        ...phaseTraining(config, spec.phase),
        augment: run.augment,
        onNonFinite: config.onNonFinite,
        resume: saved,
        checkpoint: checkpoints && {
          path: checkpoints.phaseFile(spec.phase),
          everySteps: checkpoints.everySteps ?? spec.plan.stepsPerEpoch,
        },
        onProgress,
        signal,
      });
    }
    // A phase the checkpoint shows finished reports the ranks that trained it. One continued may run on
    // another rank count, as on another worker count: the rounding differs, not the maths.
    const report = phaseReport(
      spec.phase,
      outcome,
      { ...spec.plan, workers: finished ? (saved?.workers ?? ranks) : ranks },
      spec.validation,
    );
    if (saved?.workers !== undefined && saved.workers !== ranks) {
      if (finished) report.runWorkers = ranks;
      else report.checkpointWorkers = saved.workers;
    }
    run.phases.push(report);
    return { ...from.data, weights: outcome.weights };
  });
}

/**
 * The plan of `model`'s phase over `rows`: a number of epochs, or of steps (to match another phase's budget),
 * on the ranks the run trains that model on (see RunContext.trainWorkersOf).
 */
export function phasePlan(run: RunContext, model: CheckedModel, rows: Int32Array, size: { epochs: number } | { steps: number }): PhasePlan {
  return planPhase({ rows: rows.length, batchSize: run.config.batchSize, workers: run.trainWorkersOf(model), ...size });
}

/** What a phase's per-epoch validation needs, from the run's options. */
export function phaseValidation(config: DistillConfig, rows: Int32Array): PhaseValidation {
  return {
    rows,
    earlyStopping: config.earlyStopping && { patience: config.earlyStopping.patience, metric: config.earlyStopping.metric ?? 'accuracy' },
    metric: config.earlyStopping?.metric ?? 'accuracy',
    keep: config.keep ?? 'best',
  };
}

/** A phase's optimizer and step rules: the teacher's own where `teacherTraining` sets them, else the run's. */
function phaseTraining(config: DistillConfig, phase: TrainingPhase): { optimizer: OptimizerSpec; rules: StepRules } {
  const own = phase === 'teacher' ? config.teacherTraining : {};
  return {
    optimizer: { ...config.optimizer, ...Object.fromEntries(Object.entries(own.optimizer ?? {}).filter(([, v]) => v !== undefined)) },
    rules: {
      lrSchedule: own.lrSchedule ?? config.lrSchedule,
      weightDecay: own.weightDecay ?? config.weightDecay,
      clipNorm: own.clipNorm === undefined ? config.clipNorm : own.clipNorm,
    },
  };
}

function phaseReport(
  phase: TrainingPhaseReport['phase'],
  outcome: TrainOutcome,
  plan: PhasePlan,
  validation?: PhaseValidation,
): TrainingPhaseReport {
  const { selection } = outcome;
  const epochs = Math.ceil(outcome.steps / plan.stepsPerEpoch);
  return {
    ...(selection &&
      validation && {
        selection: {
          metric: validation.metric,
          bestEpoch: selection.bestEpoch,
          bestValue: selection.bestValue,
          keptEpoch: validation.keep === 'best' ? selection.bestEpoch : epochs,
          epochs,
          stoppedEarly: selection.stopped,
        },
      }),
    phase,
    workers: plan.workers,
    steps: outcome.steps,
    samples: outcome.samples,
    seconds: outcome.seconds,
    samplesPerSec: outcome.samples / outcome.seconds,
    finalLoss: outcome.finalLoss,
    skippedSteps: outcome.skippedSteps,
    stepMs: outcome.stepMs,
  };
}
