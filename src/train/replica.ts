import type * as tf from '@tensorflow/tfjs';
import type { MessagePort } from 'node:worker_threads';
import type { LogitTableHandle } from '../data/logit-table.js';
import type { SharedDatasetHandle } from '../data/shared-dataset.js';
import { type SharedModelHandle, modelFromShared } from '../models/model-data.js';
import type { AllReduceHandle } from '../parallel/allreduce.js';
import { type BarrierHandle, SharedBarrier } from '../parallel/barrier.js';
import { ControlClient } from '../parallel/control-plane.js';
import type { HeartbeatHandle } from '../parallel/heartbeat.js';
import type { ProgressEvent, TrainingPhase } from '../progress.js';
import type { Augmentation } from './augment.js';
import type { PhaseProgress, SelectionState, TrainingCheckpoint } from './checkpoint.js';
import type { LossSpec } from './losses.js';
import type { StepRules } from './lr-schedule.js';
import type { ShardedOptimizerHandle } from './optimizers.js';
import type { PhasePlan } from './plan.js';
import { trainSteps } from './replica-loop.js';

/** One rank's share of a data-parallel training phase. */
export interface TrainTask {
  kind: 'train';
  phase: TrainingPhase;
  rank: number;
  plan: PhasePlan;
  model: SharedModelHandle;
  data: SharedDatasetHandle;
  /** Int32 indices of the rows this phase trains on. */
  rows: SharedArrayBuffer;
  softLabels?: LogitTableHandle;
  loss: LossSpec;
  /** The shared weights and optimizer state; rank r updates chunk r. */
  optimizer: ShardedOptimizerHandle;
  /** The learning-rate schedule, weight decay and gradient clipping. */
  rules: StepRules;
  /** One float64 per rank: each rank's share of the squared gradient norm, when clipping. */
  norms: SharedArrayBuffer;
  seed: number;
  allReduce: AllReduceHandle;
  barrier: BarrierHandle;
  heartbeat: HeartbeatHandle;
  timeoutMs: number;
  control: MessagePort;
  /**
   * One Int32 the coordinator sets to 1 when the run is cancelled (or a checkpoint could not be written):
   * every rank reads it each step, so a cancel lands at the next exchange, without waiting for a report's answer.
   */
  cancelFlag: SharedArrayBuffer;
  /** What to do when the averaged gradient (or loss) is not finite. */
  onNonFinite: NonFinitePolicy;
  /** Continue a checkpointed phase: `model` then holds the checkpoint's weights, `optimizer` its state. */
  resume?: { progress: PhaseProgress; iterations: number; selection?: SelectionState; bestWeights?: ArrayBuffer };
  /** Augment the training rows of each slice (image rows only); never the validation rows. */
  augment?: Augmentation;
  /** Evaluate on held-out rows after every epoch, and choose the epoch to keep. */
  validation?: ValidationTask;
  /** Rank 0 hands the phase's state to the coordinator, which writes the checkpoint, every so many steps, at the end, and when stopped. */
  checkpointEverySteps?: number;
}

/** A training task's channel to the coordinator: progress out, checkpoints handed over (cancellation comes through `cancelFlag`). */
export type TrainControl = ControlClient<ProgressEvent, TrainingCheckpoint>;

/** Per-epoch validation of a phase, and how it selects the epoch it keeps. */
export interface ValidationTask {
  /** Int32 indices of the held-out rows (labelled, never trained on). */
  rows: SharedArrayBuffer;
  /** Int32 per held-out row: the teacher's top class, for the agreement (absent when training the teacher). */
  teacherPredictions?: SharedArrayBuffer;
  /** Float64 per rank: its rows' summed loss, hits and agreements; then one Int32 for rank 0's decision. */
  scratch: SharedArrayBuffer;
  /** Stop when the metric has not improved for `patience` epochs; null: train every epoch. */
  earlyStopping: { patience: number; metric: SelectionMetric } | null;
  /** The metric that picks the best epoch (the early-stopping metric when there is one). */
  metric: SelectionMetric;
  /** Return the best epoch's weights, or the last epoch's. */
  keep: 'best' | 'last';
}

/** What model selection compares: validation accuracy (higher is better) or loss (lower). */
export type SelectionMetric = 'accuracy' | 'loss';

/** The float64 slots per rank in {@link ValidationTask.scratch}, and the decision word after them. */
export const validationScratchBytes = (workers: number) => workers * 3 * 8 + 8;

/**
 * `abort`: stop the run, naming the step; `skip`: leave the weights and optimizer untouched for that step
 * and count it. Either way the check runs on the averaged gradient, before any update.
 */
export type NonFinitePolicy = 'skip' | 'abort';

/**
 * Where one rank's step time went, in seconds summed over the steps: its forward and backward pass (and
 * copying the gradient into its slot), the gradient averaging (both barriers, which include waiting for
 * slower ranks, and its reduce-scatter chunk), and applying the mean gradient with the optimizer (also where
 * the fused exchange runs it between its barriers) and reloading the weights.
 * The session's first step is left out (see {@link TrainResult.firstStepSeconds}): these describe the
 * steady state.
 */
export interface StepTimings {
  gradientSeconds: number;
  allReduceSeconds: number;
  /** The part of `allReduceSeconds` spent waiting at the first barrier for slower ranks' gradients. */
  waitSeconds: number;
  applySeconds: number;
}

/** What a rank returns; rank 0 also returns the trained weights. */
export interface TrainResult extends Omit<PhaseProgress, 'step'> {
  /** With a validation split: the selection's final state (rank 0). */
  selection?: SelectionState;
  /** Steps done, those of earlier sessions included. */
  steps: number;
  cancelled: boolean;
  timings: StepTimings;
  /**
   * Wall time of this session's first step, which pays one-off costs: the first touch of the freshly
   * allocated shared buffers and the growth of the replica's wasm heap. 0 when no step ran.
   */
  firstStepSeconds: number;
  weights?: ArrayBuffer;
}

/**
 * The training loop of one replica. Every rank builds the same model from the same weights, walks the
 * same batch schedule, computes the gradient of its slice of each global batch, and averages it with the
 * other ranks in shared memory; every rank then applies the identical mean gradient, so the replicas stay
 * identical and any worker count follows the gradient of the same global batches.
 */
export async function trainReplica(task: TrainTask): Promise<TrainResult> {
  const barrier = SharedBarrier.attach(task.barrier);
  const control: TrainControl = new ControlClient(task.control);
  try {
    return await withReplica(task, (model) => trainSteps(task, model, barrier, control));
  } catch (error) {
    barrier.abort(); // release the other ranks; the coordinator reports this error
    throw error;
  } finally {
    await control.close();
  }
}

/** Builds the replica's model, runs `use` on it, and frees it whatever happens. */
async function withReplica<T>(task: TrainTask, use: (model: tf.LayersModel) => Promise<T>): Promise<T> {
  const model = await modelFromShared(task.model);
  try {
    return await use(model);
  } finally {
    model.dispose();
  }
}
