// The training loop of one replica (see trainReplica in replica.ts), step by step: the gradient exchange and
// update, the epoch's end (validation, model selection, its record), checkpoints and progress reports.
import type * as tf from '@tensorflow/tfjs';
import { SharedDataset } from '../data/shared-dataset.js';
import { DistillError } from '../errors.js';
import { exchangeLoops } from '../kernels/exchange-loops.js';
import { modelToData } from '../models/model-data.js';
import { modelInputShape } from '../models/model-shape.js';
import { tokenFront } from '../models/token-front.js';
import { denseChain } from '../models/dense-chain.js';
import { denseChainLoops } from '../kernels/dense-chain-loops.js';
import { chainCoversVariables } from './dense-chain-step.js';
import { tokenConvLoops } from '../kernels/token-conv-loops.js';
import { tokenConv } from '../models/token-conv.js';
import type { TokenFront } from '../models/token-front.js';
import { tokenConvCoversVariables } from './token-conv-step.js';
import { SharedAllReduce } from '../parallel/allreduce.js';
import type { SharedBarrier } from '../parallel/barrier.js';
import { RankHeartbeat } from '../parallel/heartbeat.js';
import type { EpochRecord } from '../progress.js';
import type { PhaseProgress } from './checkpoint.js';
import { prepareLoss } from './losses.js';
import type { StepTimings, TrainControl, TrainResult, TrainTask } from './replica.js';
import { type GradientPass, ShardUpdate, gradientPass } from './replica-step.js';
import { EpochSelection } from './replica-validation.js';
import { BatchSchedule, sliceBounds } from './schedule.js';

/** Runs the replica's share of the phase on `model`, from the task's resume point to the last step or a stop. */
export async function trainSteps(
  task: TrainTask,
  model: tf.LayersModel,
  barrier: SharedBarrier,
  control: TrainControl,
): Promise<TrainResult> {
  await prepareLoss(task.loss);
  return new ReplicaLoop(task, model, barrier, control).run();
}

/** The loop's state: what the replica shares with the others, and its counts so far. */
class ReplicaLoop {
  private readonly schedule: BatchSchedule;
  private readonly allReduce: SharedAllReduce;
  /** Where the slice's mean loss sits in the exchanged vector, after the gradient. */
  private readonly lossIndex: number;
  private readonly computeGradient: GradientPass;
  private readonly update: ShardUpdate;
  private readonly heartbeat: RankHeartbeat;
  private readonly cancelFlag: Int32Array;
  private readonly selection: EpochSelection | undefined;
  /** Where an earlier session stopped. */
  private readonly resumed: PhaseProgress | undefined;
  private step: number;
  private samples: number;
  private skippedSteps: number;
  private loss: number;
  private lastLearningRate = Number.NaN;
  // The current epoch's counts, for its record.
  private epochLossSum = 0;
  private epochLossCount = 0;
  private epochStarted = performance.now();
  private epochSamples = 0;
  // The loss since the last progress report the coordinator took.
  private lossSum = 0;
  private lossCount = 0;
  private readonly timings: StepTimings = { gradientSeconds: 0, allReduceSeconds: 0, waitSeconds: 0, applySeconds: 0 };
  private firstStepSeconds = 0;
  private started = 0;
  /** Settles when the coordinator has taken the last checkpoint handed over. */
  private checkpointTaken: Promise<void> = Promise.resolve();
  private readonly waitForAll = () => this.barrier.arriveAndWait(this.task.timeoutMs);

  constructor(
    private readonly task: TrainTask,
    private readonly model: tf.LayersModel,
    private readonly barrier: SharedBarrier,
    private readonly control: TrainControl,
  ) {
    const { rank, plan, phase } = task;
    const data = SharedDataset.attach(task.data);
    const inputShape = modelInputShape(model, phase === 'teacher' ? 'teacher' : 'student');
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    this.schedule = new BatchSchedule(new Int32Array(task.rows), plan, task.seed);
    const loops = exchangeLoops(); // the native ones when this thread runs the openblas kernels
    this.allReduce = SharedAllReduce.attach(task.allReduce, barrier, loops);
    const slot = this.allReduce.slot(rank); // the flat gradient, then the slice's mean loss
    this.lossIndex = slot.length - 1;
    // A text student's fused front reads its table from the shared weights: the replica's copy is loaded
    // only when something reads the model (see ShardUpdate.syncModel).
    const front = task.augment ? undefined : tokenFront(model);
    // So do a cnn1d student's front and dense layers, and a plain dense student's chain, all their weights,
    // on the native loops (none: through tfjs).
    const conv = front && tokenConvOf(model, front, variables, plan.maxRowsPerRank, data.rowSize);
    const chain = front ? undefined : denseChainOf(model, variables, data.rowSize);
    this.computeGradient = gradientPass(task, model, data, inputShape, variables, slot, front, chain, conv);
    const readShared = conv || chain ? variables : front ? [front.table.read() as tf.Variable] : [];
    this.update = new ShardUpdate(task, model, variables, this.allReduce.chunk(rank), this.waitForAll, readShared);
    this.heartbeat = RankHeartbeat.attach(task.heartbeat);
    this.cancelFlag = new Int32Array(task.cancelFlag);
    this.resumed = task.resume?.progress;
    this.step = this.resumed?.step ?? 0;
    this.samples = this.resumed?.samples ?? 0;
    this.skippedSteps = this.resumed?.skippedSteps ?? 0;
    this.loss = this.resumed?.finalLoss ?? Number.NaN;
    this.selection = task.validation && new EpochSelection(task.validation, model, data, inputShape, task);
  }

  /** Steps until the plan's last step, a cancellation, or an early stop; then the rank's result. */
  async run(): Promise<TrainResult> {
    const { rank, plan, checkpointEverySteps: every } = this.task;
    const firstStep = this.step;
    let cancelled = false;
    this.barrier.arriveAndWait(this.task.timeoutMs); // every replica is built and the shared weights hold rank 0's: start the clock
    this.started = performance.now();
    while (this.step < plan.steps) {
      const warmup = this.step === firstStep; // its one-off costs stay out of the step timings
      const stop = this.trainStep(warmup);
      if (warmup) this.firstStepSeconds = this.seconds() - (this.resumed?.seconds ?? 0);
      const epochDone = this.step % plan.stepsPerEpoch === 0 || this.step === plan.steps;
      const record = epochDone ? await this.endEpoch() : undefined;
      const stoppedEarly = this.selection?.state.stopped ?? false;
      if (rank === 0 && every && (this.step % every === 0 || this.step === plan.steps || stop || stoppedEarly)) {
        await this.handOverCheckpoint(); // the coordinator writes it while the ranks train on
      }
      if (stop) {
        cancelled = true;
        break;
      }
      if (rank === 0) await this.reportProgress(epochDone, record);
      if (stoppedEarly) break;
    }
    // The coordinator flushes the checkpoints it has taken when the task returns: this one must be among them.
    await this.checkpointTaken;
    return this.result(cancelled);
  }

  /** Seconds the phase has trained, earlier sessions included. */
  private seconds(): number {
    return (this.resumed?.seconds ?? 0) + (performance.now() - this.started) / 1000;
  }

  /**
   * One step: this rank's gradient of its slice of the batch, the exchange, then the update, or the
   * non-finite policy when the mean is not finite. Returns whether the coordinator asked to stop.
   */
  private trainStep(warmup: boolean): boolean {
    const { rank, plan, timeoutMs, phase } = this.task;
    const addTime = (key: keyof StepTimings, ms: number) => {
      if (!warmup) this.timings[key] += ms / 1000;
    };
    this.heartbeat.computing(rank);
    const batch = this.schedule.batch(this.step);
    const [start, end] = sliceBounds(batch.length, plan.workers, rank);
    const t0 = performance.now();
    const bounded = end > start ? this.computeGradient(batch, start, end, this.step) : true; // an empty slice's slot has weight 0
    const t1 = performance.now();
    this.heartbeat.waiting(rank);
    const cancelled = Atomics.load(this.cancelFlag, 0) !== 0;
    const { mean, stop, finite, waitMs, applied, updateMs } = this.update.fused
      ? this.allReduce.allReduceUpdate(rank, end - start, cancelled, timeoutMs, bounded, this.lossIndex, this.update.averaged(this.step))
      : { ...this.allReduce.allReduceMean(rank, end - start, cancelled, timeoutMs), applied: false, updateMs: 0 };
    const t2 = performance.now();
    addTime('gradientSeconds', t1 - t0);
    // The fused exchange runs the optimizer on this rank's chunk between its barriers: that time is the update's.
    addTime('allReduceSeconds', t2 - t1 - updateMs);
    addTime('waitSeconds', waitMs);
    if (finite) {
      this.loss = mean[this.lossIndex];
      this.lastLearningRate = applied ? this.update.commit() : this.update.apply(mean, this.step);
      addTime('applySeconds', performance.now() - t2 + updateMs);
      this.lossSum += this.loss;
      this.lossCount++;
      this.epochLossSum += this.loss;
      this.epochLossCount++;
    } else if (this.task.onNonFinite === 'abort') {
      throw new DistillError(
        `${phase} training diverged: the averaged gradient or loss (${mean[this.lossIndex]}) is not finite at step ${this.step + 1} ` +
          `(epoch ${this.schedule.epochOf(this.step) + 1}); lower the learning rate (optimizer.learningRate)` +
          `${'temperature' in this.task.loss ? ' or the temperature' : ''}, ` +
          "or skip such steps with onNonFinite 'skip'",
        ['optimizer.learningRate', 'temperature', 'onNonFinite'],
      );
    } else {
      this.skippedSteps++;
    }
    this.step++;
    this.samples += batch.length;
    this.epochSamples += batch.length;
    return stop;
  }

  /** The end of an epoch: validation and model selection (collective), then the epoch's record. */
  private async endEpoch(): Promise<EpochRecord> {
    if (this.selection) this.update.syncModel(); // validation and model selection read the model
    const epoch = this.schedule.epochOf(this.step - 1) + 1;
    const metrics = this.selection && (await this.selection.afterEpoch(epoch, this.step < this.task.plan.steps, this.waitForAll));
    const epochSeconds = (performance.now() - this.epochStarted) / 1000;
    const record: EpochRecord = {
      kind: 'epoch',
      phase: this.task.phase,
      epoch,
      step: this.step,
      trainLoss: this.epochLossSum / this.epochLossCount,
      learningRate: this.lastLearningRate,
      samplesPerSec: this.epochSamples / epochSeconds,
      ...(metrics && { validation: metrics }),
    };
    this.epochLossSum = 0;
    this.epochLossCount = 0;
    this.epochSamples = 0;
    this.epochStarted = performance.now();
    return record;
  }

  /**
   * Rank 0 copies the phase's state, enough to continue it exactly where it stands, and hands it to the
   * coordinator to write: the copies of the weights and the optimizer's values move, the rest is cloned.
   */
  private async handOverCheckpoint(): Promise<void> {
    this.update.syncModel();
    const { step, samples, skippedSteps, loss } = this;
    const { weights } = await modelToData(this.model);
    const optimizer = this.update.optimizer.exportState(this.update.iterations);
    const checkpoint = {
      phase: this.task.phase,
      steps: this.task.plan.steps,
      workers: this.task.plan.workers,
      progress: { step, samples, seconds: this.seconds(), skippedSteps, finalLoss: loss },
      weights,
      optimizer,
      selection: this.selection?.state,
      bestWeights: this.selection?.bestWeights ?? this.task.resume?.bestWeights,
    };
    this.checkpointTaken = this.control.keep(checkpoint, [weights, optimizer.values.buffer as ArrayBuffer]);
  }

  /** Rank 0 streams the step's progress to the coordinator. */
  private async reportProgress(epochDone: boolean, record: EpochRecord | undefined): Promise<void> {
    const { phase, plan } = this.task;
    const event = {
      phase,
      done: this.step,
      total: plan.steps,
      epoch: this.schedule.epochOf(this.step - 1) + 1,
      epochs: plan.epochs,
      epochEnd: epochDone,
      rows: plan.rows,
      record,
    };
    if (this.control.report({ ...event, loss: this.lossSum / this.lossCount, samplesPerSec: this.samples / this.seconds() }, epochDone)) {
      this.lossSum = 0;
      this.lossCount = 0;
      // Let Comlink take the coordinator's answers, or the calls awaiting them pile up over a long phase. Only
      // after a report: answers come to reports, and a turn of the event loop every step costs a small student
      // a noticeable share of its step.
      await new Promise(setImmediate);
    }
  }

  /** What the rank returns; rank 0 adds the weights to keep (the best epoch's, when the phase keeps the best). */
  private async result(cancelled: boolean): Promise<TrainResult> {
    this.update.syncModel();
    const { step, samples, skippedSteps, loss, timings, firstStepSeconds, selection } = this;
    const result: TrainResult = {
      steps: step,
      samples,
      seconds: this.seconds(),
      finalLoss: loss,
      skippedSteps,
      cancelled,
      timings,
      firstStepSeconds,
    };
    if (selection) result.selection = selection.state;
    if (this.task.rank === 0) {
      const best = this.task.validation?.keep === 'best' && selection?.bestWeights;
      result.weights = best || (await modelToData(this.model)).weights;
    }
    return result;
  }
}

/**
 * The most floats the cnn1d pass's per-rank buffers (every position's window and every position's filter outputs)
 * may take; above it the rank trains through tfjs, whose convolution does not hold a window per position.
 */
export const TOKEN_CONV_BUFFER_FLOATS = 2 ** 26;

/**
 * The model's cnn1d front and head and the loops to train them on, when the thread has them, they hold every
 * weight, the data's rows are its token rows, and the pass's buffers for `maxRows` rows fit TOKEN_CONV_BUFFER_FLOATS.
 */
export function tokenConvOf(model: tf.LayersModel, front: TokenFront, variables: tf.Variable[], maxRows: number, rowSize: number) {
  const loops = tokenConvLoops();
  const conv = loops && tokenConv(model, front);
  if (!conv || conv.maxLength !== rowSize || !tokenConvCoversVariables(conv, variables)) return undefined;
  const floats = maxRows * conv.maxLength * (conv.kernelSize * conv.width + conv.filters);
  return floats <= TOKEN_CONV_BUFFER_FLOATS ? { conv, loops } : undefined;
}

/**
 * The model's dense chain and the loops to train it on, when the thread has them, the chain holds every
 * weight and it reads the data's rows as they are.
 */
function denseChainOf(model: tf.LayersModel, variables: tf.Variable[], rowSize: number) {
  const loops = denseChainLoops();
  const chain = loops && denseChain(model);
  return chain && chain.inputWidth === rowSize && chainCoversVariables(chain, variables) ? { chain, loops } : undefined;
}
