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
import { type PhaseProgress, type SelectionState, writeTrainingCheckpoint } from './checkpoint.js';
import { type LossSpec, meanLoss, prepareLoss } from './losses.js';
import { ShardedOptimizer, type ShardedOptimizerHandle } from './optimizers.js';
import type { EpochRecord, ProgressEvent, TrainingPhase, ValidationMetrics } from '../progress.js';
import { type Augmentation, augmentRows } from './augment.js';
import { learningRateAt, type StepRules } from './lr-schedule.js';
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
  /** What to do when the averaged gradient (or loss) is not finite. */
  onNonFinite: NonFinitePolicy;
  /** Continue a checkpointed phase: `model` then holds the checkpoint's weights, `optimizer` its state. */
  resume?: { progress: PhaseProgress; iterations: number; selection?: SelectionState; bestWeights?: ArrayBuffer };
  /** Augment the training rows of each slice (image rows only); never the validation rows. */
  augment?: Augmentation;
  /** Evaluate on held-out rows after every epoch, and choose the epoch to keep. */
  validation?: ValidationTask;
  /** Rank 0 writes the phase's state here every `everySteps` steps, at the end, and when stopped. */
  checkpoint?: { path: string; everySteps: number };
}

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

/** Rows per forward pass when validating. */
const VALIDATION_BATCH = 256;

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
 * Scales the averaged gradient so that its global L2 norm is at most `maxNorm`. Each rank sums the squares
 * of its own chunk; after a barrier every rank adds the W sums in rank order, so all get the same norm, and
 * scales its own chunk (which only it reads from here on).
 */
function clipGradient(
  mean: Float32Array,
  lo: number,
  hi: number,
  rank: number,
  norms: Float64Array,
  maxNorm: number,
  waitForAll: () => void,
): void {
  let sum = 0;
  for (let i = lo; i < hi; i++) sum += mean[i] * mean[i];
  norms[rank] = sum;
  waitForAll();
  let total = 0;
  for (let r = 0; r < norms.length; r++) total += norms[r];
  const norm = Math.sqrt(total);
  if (norm <= maxNorm) return;
  const scale = maxNorm / norm;
  for (let i = lo; i < hi; i++) mean[i] *= scale;
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
  await prepareLoss(task.loss);
  const data = SharedDataset.attach(task.data);
  const softLabels = task.softLabels && LogitTable.attach(task.softLabels);
  const inputShape = modelInputShape(model, phase === 'teacher' ? 'teacher' : 'student');
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const schedule = new BatchSchedule(new Int32Array(task.rows), plan, task.seed);
  const loops = exchangeLoops(); // the native ones when this thread runs the openblas kernels
  const allReduce = SharedAllReduce.attach(task.allReduce, barrier, loops);
  const slot = allReduce.slot(rank); // the flat gradient, then the slice's mean loss
  const lossIndex = slot.length - 1;

  // Reused gather buffers, sized for the largest slice.
  const maxRows = plan.maxRowsPerRank;
  const features = new Float32Array(maxRows * data.rowSize);
  const labels = new Int32Array(maxRows);
  const teacherLogits = new Float32Array(maxRows * data.numClasses);

  /** Forward and backward pass over rows [start, end) of the batch; writes gradient and loss into the slot. */
  const computeGradient = (batch: Int32Array, start: number, end: number, step: number) =>
    tf.tidy(() => {
      const n = end - start;
      const rows = data.gatherFeatures(batch, start, end, features);
      if (task.augment) augmentRows(rows, batch, start, end, data.featureShape, task.augment, task.seed, step);
      const x = tf.tensor(rows, [n, ...inputShape]);
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
  let lastLearningRate = Number.NaN;
  const norms = new Float64Array(task.norms);
  let epochLossSum = 0;
  let epochLossCount = 0;
  let epochStarted = performance.now();
  let epochSamples = 0;
  const { validation } = task;
  let selection: SelectionState | undefined =
    validation && (task.resume?.selection ?? { bestEpoch: 0, bestValue: Number.NaN, epochsSinceBest: 0, stopped: false });
  let bestWeights = task.resume?.bestWeights;
  const validate = validation && validationRunner(validation, model, data, inputShape, rank, plan.workers);
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
      selection,
      bestWeights,
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
    if (end > start) computeGradient(batch, start, end, step);
    const t1 = performance.now();
    heartbeat.waiting(rank);
    const { mean, stop, finite, waitMs } = allReduce.allReduceMean(rank, end - start, control.cancelled, timeoutMs);
    const t2 = performance.now();
    addTime('gradientSeconds', t1 - t0);
    addTime('allReduceSeconds', t2 - t1);
    addTime('waitSeconds', waitMs);
    if (finite) {
      loss = mean[lossIndex];
      const lr = learningRateAt(task.rules.lrSchedule, optimizer.handle.spec.learningRate, step, plan.steps);
      if (task.rules.clipNorm !== null)
        clipGradient(mean, lo, hi, rank, norms, task.rules.clipNorm, () => barrier.arriveAndWait(timeoutMs));
      if (task.rules.weightDecay > 0) optimizer.decay(lo, hi, lr, task.rules.weightDecay);
      optimizer.update(mean, lo, hi, ++iterations, lr);
      lastLearningRate = lr;
      barrier.arriveAndWait(timeoutMs); // every chunk is updated
      loadSharedWeights();
      addTime('applySeconds', performance.now() - t2);
      lossSum += loss;
      lossCount++;
      epochLossSum += loss;
      epochLossCount++;
    } else if (task.onNonFinite === 'abort') {
      throw new DistillError(
        `${phase} training diverged: the averaged gradient or loss (${mean[lossIndex]}) is not finite at step ${step + 1} ` +
          `(epoch ${schedule.epochOf(step) + 1}); lower the learning rate (optimizer.learningRate)` +
          `${'temperature' in task.loss ? ' or the temperature' : ''}, ` +
          "or skip such steps with onNonFinite 'skip'",
        ['optimizer.learningRate', 'temperature', 'onNonFinite'],
      );
    } else {
      skippedSteps++;
    }
    step++;
    samples += batch.length;
    epochSamples += batch.length;
    if (warmup) firstStepSeconds = seconds() - (resumed?.seconds ?? 0);
    const epochDone = step % plan.stepsPerEpoch === 0 || step === plan.steps;
    let record: EpochRecord | undefined;
    if (epochDone) {
      const epoch = schedule.epochOf(step - 1) + 1;
      const metrics = validate && (await validate(() => barrier.arriveAndWait(timeoutMs)));
      if (metrics && selection && validation) {
        // Rank 0 decides, once, from the metrics every rank computed alike; the others read its decision.
        const decision = new Int32Array(validation.scratch, plan.workers * 3 * 8, 1);
        if (rank === 0) {
          const value = metrics[validation.metric];
          const better =
            Number.isNaN(selection.bestValue) ||
            (validation.metric === 'accuracy' ? value > selection.bestValue : value < selection.bestValue);
          selection = better
            ? { ...selection, bestEpoch: epoch, bestValue: value, epochsSinceBest: 0 }
            : { ...selection, epochsSinceBest: selection.epochsSinceBest + 1 };
          if (better && validation.keep === 'best') bestWeights = (await modelToData(model)).weights;
          const patience = validation.earlyStopping?.patience;
          selection.stopped = patience !== undefined && selection.epochsSinceBest >= patience && step < plan.steps;
          Atomics.store(decision, 0, selection.stopped ? 1 : 0);
        }
        barrier.arriveAndWait(timeoutMs); // the decision is written
        if (Atomics.load(decision, 0) === 1 && selection) selection.stopped = true;
      }
      const epochSeconds = (performance.now() - epochStarted) / 1000;
      record = {
        kind: 'epoch',
        phase,
        epoch,
        step,
        trainLoss: epochLossSum / epochLossCount,
        learningRate: lastLearningRate,
        samplesPerSec: epochSamples / epochSeconds,
        ...(metrics && { validation: metrics }),
      };
      epochLossSum = 0;
      epochLossCount = 0;
      epochSamples = 0;
      epochStarted = performance.now();
    }
    const stoppedEarly = selection?.stopped ?? false;
    const { checkpoint } = task;
    if (rank === 0 && checkpoint && (step % checkpoint.everySteps === 0 || step === plan.steps || stop || stoppedEarly)) {
      await saveCheckpoint(checkpoint.path); // the other ranks wait at the next exchange meanwhile
    }
    if (stop) {
      cancelled = true;
      break;
    }
    if (rank === 0) {
      const event = {
        phase,
        done: step,
        total: plan.steps,
        epoch: schedule.epochOf(step - 1) + 1,
        epochs: plan.epochs,
        epochEnd: epochDone,
        rows: plan.rows,
        record,
      };
      if (control.report({ ...event, loss: lossSum / lossCount, samplesPerSec: samples / seconds() }, epochDone)) {
        lossSum = 0;
        lossCount = 0;
      }
      await new Promise(setImmediate); // let Comlink deliver the coordinator's answers (cancellation)
    }
    if (stoppedEarly) break;
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
  if (selection) result.selection = selection;
  if (rank === 0) result.weights = validation?.keep === 'best' && bestWeights ? bestWeights : (await modelToData(model)).weights;
  return result;
}

/**
 * Evaluates the replica on its share of the held-out rows (every replica holds the same weights), then,
 * after a barrier, sums every rank's partial sums in rank order: every rank gets the same metrics.
 */
function validationRunner(
  validation: ValidationTask,
  model: tf.LayersModel,
  data: SharedDataset,
  inputShape: number[],
  rank: number,
  workers: number,
): (waitForAll: () => void) => Promise<ValidationMetrics> {
  const rows = new Int32Array(validation.rows);
  const teacher = validation.teacherPredictions && new Int32Array(validation.teacherPredictions);
  const partials = new Float64Array(validation.scratch, 0, workers * 3);
  const [first, last] = sliceBounds(rows.length, workers, rank);
  const features = new Float32Array(VALIDATION_BATCH * data.rowSize);
  const labels = new Int32Array(VALIDATION_BATCH);
  return async (waitForAll) => {
    let lossSum = 0;
    let hits = 0;
    let agreements = 0;
    for (let start = first; start < last; start += VALIDATION_BATCH) {
      const end = Math.min(start + VALIDATION_BATCH, last);
      const n = end - start;
      const logits = tf.tidy(() => {
        const x = tf.tensor(data.gatherFeatures(rows, start, end, features), [n, ...inputShape]);
        return (model.apply(x, { training: false }) as tf.Tensor).dataSync() as Float32Array;
      });
      data.gatherLabels(rows, start, end, labels);
      const classes = logits.length / n;
      for (let r = 0; r < n; r++) {
        const row = logits.subarray(r * classes, (r + 1) * classes);
        let top = 0;
        let max = -Infinity;
        for (let c = 0; c < classes; c++) if (row[c] > max) [max, top] = [row[c], c];
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += Math.exp(row[c] - max);
        lossSum += max + Math.log(sum) - row[labels[r]];
        if (top === labels[r]) hits++;
        if (teacher && top === teacher[start + r]) agreements++;
      }
    }
    partials.set([lossSum, hits, agreements], rank * 3);
    waitForAll();
    const total = [0, 0, 0];
    for (let r = 0; r < workers; r++) for (let k = 0; k < 3; k++) total[k] += partials[r * 3 + k];
    return {
      loss: total[0] / rows.length,
      accuracy: total[1] / rows.length,
      ...(teacher && { agreement: total[2] / rows.length }),
    };
  };
}
