import * as tf from '@tensorflow/tfjs';
import type { MessagePort } from 'node:worker_threads';
import { LogitTable, type LogitTableHandle } from '../data/logit-table.js';
import { SharedDataset, type SharedDatasetHandle } from '../data/shared-dataset.js';
import { DistillError } from '../errors.js';
import { type SharedModelHandle, modelFromShared, modelToData } from '../models/model-data.js';
import { modelInputShape } from '../models/model-shape.js';
import { exchangeLoops } from '../kernels/exchange-loops.js';
import { copyTensorInto } from '../kernels/wasm-heap.js';
import { type AllReduceHandle, SharedAllReduce } from '../parallel/allreduce.js';
import { type BarrierHandle, SharedBarrier } from '../parallel/barrier.js';
import { ControlClient } from '../parallel/control-plane.js';
import { type HeartbeatHandle, RankHeartbeat } from '../parallel/heartbeat.js';
import { type PhaseProgress, writeTrainingCheckpoint } from './checkpoint.js';
import { type LossSpec, meanLoss } from './losses.js';
import { ShardedOptimizer, type ShardedOptimizerHandle } from './optimizers.js';
import type { ProgressEvent, TrainingPhase } from '../progress.js';
import type { PhasePlan } from './plan.js';
import { BatchSchedule, sliceBounds } from './schedule.js';

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
  seed: number;
  allReduce: AllReduceHandle;
  barrier: BarrierHandle;
  heartbeat: HeartbeatHandle;
  timeoutMs: number;
  control: MessagePort;
  /** What to do when the averaged gradient (or loss) is not finite. */
  onNonFinite: NonFinitePolicy;
  /** Continue a checkpointed phase: `model` then holds the checkpoint's weights, `optimizer` its state. */
  resume?: { progress: PhaseProgress; iterations: number };
  /** Rank 0 writes the phase's state here every `everySteps` steps, at the end, and when stopped. */
  checkpoint?: { path: string; everySteps: number };
}

/**
 * `abort`: stop the run, naming the step; `skip`: leave the weights and optimizer untouched for that step
 * and count it. Either way the check runs on the averaged gradient, before any update.
 */
export type NonFinitePolicy = 'skip' | 'abort';

/**
 * Where one rank's step time went, in seconds summed over the steps: its forward and backward pass (and
 * copying the gradient into its slot), the gradient averaging (both barriers, which include waiting for
 * slower ranks, and its reduce-scatter chunk), and applying the mean gradient with the optimizer.
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
  const control = new ControlClient<ProgressEvent>(task.control);
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

async function trainSteps(
  task: TrainTask,
  model: tf.LayersModel,
  barrier: SharedBarrier,
  control: ControlClient<ProgressEvent>,
): Promise<TrainResult> {
  const { rank, plan, timeoutMs, phase } = task;
  const data = SharedDataset.attach(task.data);
  const softLabels = task.softLabels && LogitTable.attach(task.softLabels);
  const inputShape = modelInputShape(model, phase === 'teacher' ? 'teacher' : 'student');
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const schedule = new BatchSchedule(new Int32Array(task.rows), plan, task.seed);
  const loops = exchangeLoops(); // the native ones when this thread runs the openblas kernels
  const allReduce = SharedAllReduce.attach(task.allReduce, barrier, loops.weightedSum);
  const slot = allReduce.slot(rank); // the flat gradient, then the slice's mean loss
  const lossIndex = slot.length - 1;

  // Reused gather buffers, sized for the largest slice.
  const maxRows = plan.maxRowsPerRank;
  const features = new Float32Array(maxRows * data.rowSize);
  const labels = new Int32Array(maxRows);
  const teacherLogits = new Float32Array(maxRows * data.numClasses);

  /** Forward and backward pass over rows [start, end) of the batch; writes gradient and loss into the slot. */
  const computeGradient = (batch: Int32Array, start: number, end: number) =>
    tf.tidy(() => {
      const n = end - start;
      const x = tf.tensor(data.gatherFeatures(batch, start, end, features), [n, ...inputShape]);
      const y = tf.tensor1d(data.gatherLabels(batch, start, end, labels), 'int32');
      const teacher = softLabels && tf.tensor2d(softLabels.gather(batch, start, end, teacherLogits), [n, data.numClasses]);
      const { value, grads } = tf.variableGrads(
        () => meanLoss(task.loss, { student: model.apply(x, { training: true }) as tf.Tensor2D, teacher, labels: y }),
        variables,
      );
      let offset = 0;
      for (const variable of variables) {
        const grad = grads[variable.name]; // absent when the loss does not depend on the variable
        if (grad) copyTensorInto(grad, slot, offset);
        else slot.fill(0, offset, offset + variable.size);
        offset += variable.size;
      }
      slot[lossIndex] = value.dataSync()[0];
    });

  // The optimizer runs on this rank's chunk of the shared weights (the loss, last in the vector, is not one).
  const optimizer = ShardedOptimizer.attach(task.optimizer);
  const [lo, hi] = allReduce.chunk(rank).map((i) => Math.min(i, optimizer.handle.length));
  let iterations = task.resume?.iterations ?? 0;
  // The wasm backend copies a tensor's values into its heap when it is made; other backends may keep the
  // array itself, and the shared weights change at the next step, so they get a copy. The variables get
  // new tensors rather than new values in place: the wasm backend caches XNNPACK's packed weights by tensor.
  const copies = tf.getBackend() !== 'wasm';
  /** Copies the shared weights into this replica's variables. */
  const loadSharedWeights = () =>
    tf.tidy(() => {
      let offset = 0;
      for (const variable of variables) {
        const values = optimizer.weights.subarray(offset, offset + variable.size);
        variable.assign(tf.tensor(copies ? values.slice() : values, variable.shape));
        offset += variable.size;
      }
    });
  if (rank === 0) {
    let offset = 0;
    for (const variable of variables) {
      copyTensorInto(variable, optimizer.weights, offset);
      offset += variable.size;
    }
  }

  const heartbeat = RankHeartbeat.attach(task.heartbeat);
  const resumed = task.resume?.progress;
  let step = resumed?.step ?? 0;
  let samples = resumed?.samples ?? 0;
  let skippedSteps = resumed?.skippedSteps ?? 0;
  let loss = resumed?.finalLoss ?? Number.NaN;
  let lossSum = 0;
  let lossCount = 0;
  let cancelled = false;
  const timings: StepTimings = { gradientSeconds: 0, allReduceSeconds: 0, waitSeconds: 0, applySeconds: 0 };
  const firstStep = step;
  let firstStepSeconds = 0;
  barrier.arriveAndWait(timeoutMs); // every replica is built and the shared weights hold rank 0's: start the clock
  const started = performance.now();
  const seconds = () => (resumed?.seconds ?? 0) + (performance.now() - started) / 1000;
  const saveCheckpoint = async (path: string) =>
    writeTrainingCheckpoint(path, {
      phase,
      steps: plan.steps,
      progress: { step, samples, seconds: seconds(), skippedSteps, finalLoss: loss },
      weights: (await modelToData(model)).weights,
      optimizer: optimizer.exportState(iterations),
    });

  while (step < plan.steps) {
    const warmup = step === firstStep; // its one-off costs stay out of the step timings
    const addTime = (key: keyof StepTimings, ms: number) => {
      if (!warmup) timings[key] += ms / 1000;
    };
    heartbeat.computing(rank);
    const batch = schedule.batch(step);
    const [start, end] = sliceBounds(batch.length, plan.workers, rank);
    const t0 = performance.now();
    if (end > start) computeGradient(batch, start, end);
    const t1 = performance.now();
    heartbeat.waiting(rank);
    const { mean, stop, finite, waitMs } = allReduce.allReduceMean(rank, end - start, control.cancelled, timeoutMs);
    const t2 = performance.now();
    addTime('gradientSeconds', t1 - t0);
    addTime('allReduceSeconds', t2 - t1);
    addTime('waitSeconds', waitMs);
    if (finite) {
      loss = mean[lossIndex];
      optimizer.update(mean, lo, hi, ++iterations);
      barrier.arriveAndWait(timeoutMs); // every chunk is updated
      loadSharedWeights();
      addTime('applySeconds', performance.now() - t2);
      lossSum += loss;
      lossCount++;
    } else if (task.onNonFinite === 'abort') {
      throw new DistillError(
        `${phase} training diverged: the averaged gradient or loss (${mean[lossIndex]}) is not finite at step ${step + 1} ` +
          `(epoch ${schedule.epochOf(step) + 1}); lower the learning rate (optimizer.learningRate)` +
          `${task.loss.name === 'kd' ? ' or the temperature' : ''}, ` +
          "or skip such steps with onNonFinite 'skip'",
        ['optimizer.learningRate', 'temperature', 'onNonFinite'],
      );
    } else {
      skippedSteps++;
    }
    step++;
    samples += batch.length;
    if (warmup) firstStepSeconds = seconds() - (resumed?.seconds ?? 0);
    const { checkpoint } = task;
    if (rank === 0 && checkpoint && (step % checkpoint.everySteps === 0 || step === plan.steps || stop)) {
      await saveCheckpoint(checkpoint.path); // the other ranks wait at the next exchange meanwhile
    }
    if (stop) {
      cancelled = true;
      break;
    }
    if (rank === 0) {
      const epochDone = step % plan.stepsPerEpoch === 0 || step === plan.steps;
      const event = {
        phase,
        done: step,
        total: plan.steps,
        epoch: schedule.epochOf(step - 1) + 1,
        epochs: plan.epochs,
        epochEnd: epochDone,
        rows: plan.rows,
      };
      if (control.report({ ...event, loss: lossSum / lossCount, samplesPerSec: samples / seconds() }, epochDone)) {
        lossSum = 0;
        lossCount = 0;
      }
      await new Promise(setImmediate); // let Comlink deliver the coordinator's answers (cancellation)
    }
  }
  const result: TrainResult = {
    steps: step,
    samples,
    seconds: seconds(),
    finalLoss: loss,
    skippedSteps,
    cancelled,
    timings,
    firstStepSeconds,
  };
  if (rank === 0) result.weights = (await modelToData(model)).weights;
  return result;
}
