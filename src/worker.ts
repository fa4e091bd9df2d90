/**
 * The entry point of every pool thread: Piscina calls the default export with each task. The tasks are
 * small, typed messages; everything bulky (data, soft labels, weights, gradients) lives in shared memory
 * and is only referenced by them.
 */
import tf from './tf.cjs';
import { type InferTask, type LatencyTask, type LoadTask, inferRows, measureLatency, preloadModel } from './infer/inference-task.js';
import { forgetPredictors } from './infer/predictor.js';
import { type TrainTask, trainReplica } from './train/replica.js';
import { messageForCoordinator } from './errors.js';
import { type BackendName, initBackend } from './kernels/backend.js';
import type { KernelChoice } from './kernels/kernel-choice.js';
import { type BarrierHandle, SharedBarrier } from './parallel/barrier.js';

/** Loads the backend in this thread, then waits for every other thread to do the same. */
interface InitTask {
  kind: 'init';
  candidates: BackendName[];
  /** Module URLs to import first (custom layers and the like). */
  imports: string[];
  kernels: KernelChoice;
  /** OpenBLAS threads (process-wide, so above 1 only in a one-worker pool). */
  blasThreads: number;
  barrier: BarrierHandle;
  timeoutMs: number;
}

/** Between runs on a kept thread: unloads the run's models; answers whether this thread was initialised. */
export interface ForgetTask {
  kind: 'forget';
}

export type WorkerTask = InitTask | LoadTask | InferTask | LatencyTask | TrainTask | ForgetTask;

/** Whether this thread has loaded its backend (an init task); a thread started in place of one that exited has not. */
let initialised = false;

// Quiets tfjs's console advice (e.g. "install the node backend"); our own notices reach the report.
tf.env().set('PROD', true);

async function init(task: InitTask) {
  const barrier = SharedBarrier.attach(task.barrier);
  try {
    for (const url of task.imports) await import(url);
    const result = await initBackend(task.candidates, task.kernels, task.blasThreads);
    initialised = true;
    barrier.arriveAndWait(task.timeoutMs);
    return result;
  } catch (error) {
    barrier.abort();
    throw error;
  }
}

export default async function runTask(task: WorkerTask): Promise<unknown> {
  try {
    return await dispatch(task);
  } catch (error) {
    // Only the message crosses the thread boundary: tag the deterministic failures for the coordinator.
    throw messageForCoordinator(error);
  }
}

async function dispatch(task: WorkerTask): Promise<unknown> {
  if (task.kind === 'forget') {
    await forgetPredictors();
    return initialised;
  }
  // Any other task needs the backend and kernels the pool chose: never tfjs's default, silently.
  if (task.kind !== 'init' && !initialised) throw new Error(`a worker thread that was not initialised got a '${task.kind}' task`);
  switch (task.kind) {
    case 'init':
      return init(task);
    case 'load':
      return preloadModel(task);
    case 'infer':
      return inferRows(task);
    case 'latency':
      return measureLatency(task);
    case 'train':
      return trainReplica(task);
  }
}
