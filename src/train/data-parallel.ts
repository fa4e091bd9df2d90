import type { LogitTable } from '../data/logit-table.js';
import type { SharedDataset } from '../data/shared-dataset.js';
import { DistillCancelledError } from '../errors.js';
import type { SharedModelHandle } from '../models/model-data.js';
import { javascriptLoops } from '../kernels/exchange-loops.js';
import { SharedAllReduce } from '../parallel/allreduce.js';
import { SharedBarrier } from '../parallel/barrier.js';
import { openControlChannel } from '../parallel/control-plane.js';
import { RankHeartbeat } from '../parallel/heartbeat.js';
import type { RankGroup } from '../parallel/pool.js';
import type { LossSpec } from './losses.js';
import { type OptimizerSpec, ShardedOptimizer } from './optimizers.js';
import type { ProgressEvent, TrainingPhase } from '../progress.js';
import { CheckpointWriter, type PhaseProgress, type SelectionState, type TrainingCheckpoint } from './checkpoint.js';
import type { Augmentation } from './augment.js';
import type { StepRules } from './lr-schedule.js';
import type { PhasePlan } from './plan.js';
import {
  type NonFinitePolicy,
  type StepTimings,
  type TrainResult,
  type TrainTask,
  type ValidationTask,
  validationScratchBytes,
} from './replica.js';

/** One training step's time, in milliseconds. */
export interface StepBreakdown {
  /** The forward and backward pass over the worker's slice of the batch. */
  gradient: number;
  /** Averaging the gradients across the workers, `waiting` included. */
  averaging: number;
  /** Of `averaging`, waiting for slower workers to finish their gradients (load imbalance). */
  waiting: number;
  /** The optimizer update of the worker's share of the weights, and loading the new weights. */
  update: number;
}

/** A phase's validation: its rows (and the teacher's top class on each), early stopping, and the epoch kept. */
export interface PhaseValidation extends Omit<ValidationTask, 'rows' | 'teacherPredictions' | 'scratch'> {
  rows: Int32Array;
  teacherPredictions?: Int32Array;
}

/** One data-parallel training phase. */
export interface TrainSpec {
  phase: TrainingPhase;
  /** The starting point; its topology outputs logits. */
  model: SharedModelHandle;
  /** Number of trainable values of the model (the gradient length). */
  trainableParams: number;
  data: SharedDataset;
  /** The rows to train on (`plan.rows` of them). */
  rows: Int32Array;
  /** Steps, epochs, batch and slices of the phase, for the pool's worker count. */
  plan: PhasePlan;
  softLabels?: LogitTable;
  loss: LossSpec;
  optimizer: OptimizerSpec;
  /** The learning-rate schedule, weight decay and gradient clipping; default: none of them. */
  rules?: StepRules;
  seed: number;
  onNonFinite: NonFinitePolicy;
  /** Continue from this checkpoint of the phase; `model` must then hold its weights. */
  resume?: TrainingCheckpoint;
  /** Held-out rows evaluated after every epoch, and how the phase selects the epoch it keeps. */
  validation?: PhaseValidation;
  /** Random shifts and flips of the training rows (images), drawn per row and step. */
  augment?: Augmentation;
  /** Where and how often rank 0 checkpoints the phase. */
  checkpoint?: { path: string; everySteps: number };
  onProgress: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** The outcome of a phase: rank 0's trained weights and the phase's own timing (earlier sessions included). */
export interface TrainOutcome extends Omit<PhaseProgress, 'step'> {
  weights: ArrayBuffer;
  steps: number;
  /** Each rank's step-time breakdown (this session's steps but its first), by rank. */
  timings: StepTimings[];
  /** The same, per step and averaged over the ranks; absent when this session ran fewer than 2 steps. */
  stepMs?: StepBreakdown;
  /** Rank 0's wall time for this session's first step, which pays one-off costs; 0 when no step ran. */
  firstStepSeconds: number;
  /** With a validation split: the best epoch, and whether early stopping ended the phase. */
  selection?: SelectionState;
}

/**
 * Trains one model data-parallel across the ranks (a pool, or its first ranks): one long task per rank, a shared gradient buffer and
 * barrier for the averaging, and a Comlink control channel per task for progress and cancellation.
 */
export async function trainDataParallel(pool: RankGroup<TrainTask>, spec: TrainSpec): Promise<TrainOutcome> {
  const { plan } = spec;
  const { workers } = pool;
  if (plan.workers !== workers) throw new Error(`trainDataParallel: a plan for ${plan.workers} workers on a pool of ${workers}`);
  const barrier = SharedBarrier.create(workers);
  const heartbeat = RankHeartbeat.create(workers);
  const optimizer = ShardedOptimizer.create(spec.optimizer, spec.trainableParams, spec.resume?.optimizer);
  const resume = spec.resume && {
    progress: spec.resume.progress,
    iterations: spec.resume.optimizer.iterations,
    selection: spec.resume.selection,
    bestWeights: spec.resume.bestWeights,
  };
  const validation: ValidationTask | undefined = spec.validation && {
    ...spec.validation,
    rows: shared(spec.validation.rows),
    teacherPredictions: spec.validation.teacherPredictions && shared(spec.validation.teacherPredictions),
    scratch: new SharedArrayBuffer(validationScratchBytes(workers)),
  };
  // + 1: the loss. The coordinator only allocates it: each rank attaches with its own thread's loops.
  const allReduce = SharedAllReduce.create(spec.trainableParams + 1, barrier, javascriptLoops);
  const norms = new SharedArrayBuffer(workers * 8);
  const rows = new SharedArrayBuffer(spec.rows.byteLength);
  new Int32Array(rows).set(spec.rows);
  // Rank 0 hands its checkpoints over and trains on; they are written here meanwhile. The ranks stop at the step
  // after the cancel flag is raised: by the signal, or by a failed write (a flush per checkpoint to catch that
  // would be held while writes lag).
  const cancelFlag = new Int32Array(new SharedArrayBuffer(4));
  const checkpoints = spec.checkpoint && new CheckpointWriter(spec.checkpoint.path, () => Atomics.store(cancelFlag, 0, 1));
  const keep = (checkpoint: TrainingCheckpoint) => checkpoints?.add(checkpoint);
  const channels = Array.from({ length: workers }, () => openControlChannel(spec.onProgress, keep));
  const stopWatchingSignal = raiseOnAbort(spec.signal, cancelFlag);
  try {
    const results = await pool.runOnEveryRank<TrainResult>(
      (rank) => ({
        task: {
          kind: 'train',
          phase: spec.phase,
          rank,
          plan,
          model: spec.model,
          data: spec.data.handle,
          rows,
          softLabels: spec.softLabels?.handle,
          loss: spec.loss,
          optimizer: optimizer.handle,
          rules: spec.rules ?? NO_RULES,
          norms,
          seed: spec.seed,
          allReduce: allReduce.handle,
          barrier: barrier.handle,
          heartbeat: heartbeat.handle,
          // A backstop only: the coordinator's heartbeat watch fires first and names the rank that hung.
          timeoutMs: 2 * pool.barrierTimeoutMs,
          control: channels[rank].port,
          cancelFlag: cancelFlag.buffer as SharedArrayBuffer,
          onNonFinite: spec.onNonFinite,
          resume,
          validation,
          augment: spec.augment,
          checkpointEverySteps: spec.checkpoint?.everySteps,
        },
        transferList: [channels[rank].port],
      }),
      { barriers: [barrier], heartbeat },
    );
    await checkpoints?.flush(); // a phase is done (or cancelled) only once its checkpoints are on disk
    const { cancelled, weights, ...progress } = results[0];
    if (cancelled) {
      const saved = spec.checkpoint ? '; its state is checkpointed' : '';
      throw new DistillCancelledError(`cancelled during ${spec.phase} training at step ${progress.steps} of ${plan.steps}${saved}`);
    }
    const timings = results.map((r) => r.timings); // every rank's, where progress has rank 0's
    // The timings leave out the session's first step.
    return {
      ...progress,
      weights: weights!,
      timings,
      stepMs: stepBreakdown(timings, progress.steps - (spec.resume?.progress.step ?? 0) - 1),
    };
  } catch (error) {
    // A failed phase restarts from its checkpoint: the last one handed over must be on disk first.
    await checkpoints?.flush().catch(() => {});
    throw error;
  } finally {
    stopWatchingSignal();
    for (const channel of channels) channel.close();
  }
}

/** The cancel flags of the phases training under each signal, raised by that signal's one abort listener. */
const cancelFlagsOf = new WeakMap<AbortSignal, Set<Int32Array>>();

/**
 * Raises `flag` when `signal` aborts (at once if it has); returns what stops watching. One listener per
 * signal however many phases train under it side by side (a sweep's trials): one per phase would pass
 * Node's limit on a signal's listeners, and it would warn of a leak.
 */
function raiseOnAbort(signal: AbortSignal | undefined, flag: Int32Array): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    Atomics.store(flag, 0, 1);
    return () => {};
  }
  let flags = cancelFlagsOf.get(signal);
  if (!flags) {
    const watched = new Set<Int32Array>();
    signal.addEventListener('abort', () => {
      for (const raised of watched) Atomics.store(raised, 0, 1);
    });
    cancelFlagsOf.set(signal, watched);
    flags = watched;
  }
  flags.add(flag);
  return () => flags.delete(flag);
}

/** A copy of `values` in shared memory. */
function shared(values: Int32Array): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(values.byteLength);
  new Int32Array(buffer).set(values);
  return buffer;
}

/** A constant learning rate, no decay, no clipping. */
const NO_RULES: StepRules = { lrSchedule: { name: 'constant' }, weightDecay: 0, clipNorm: null };

/** Milliseconds per step in each part of the step, averaged over the ranks; undefined for no steps. */
function stepBreakdown(timings: StepTimings[], steps: number): StepBreakdown | undefined {
  if (steps <= 0 || timings.length === 0) return undefined;
  const perStep = (key: keyof StepTimings) => (timings.reduce((sum, t) => sum + t[key], 0) / timings.length / steps) * 1000;
  return {
    gradient: perStep('gradientSeconds'),
    averaging: perStep('allReduceSeconds'),
    waiting: perStep('waitSeconds'),
    update: perStep('applySeconds'),
  };
}
