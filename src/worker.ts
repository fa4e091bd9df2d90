/**
 * The entry point of every pool thread: Piscina calls the default export with each task. The tasks are
 * small, typed messages; everything bulky (data, soft labels, weights, gradients) lives in shared memory
 * and is only referenced by them.
 */
import { type InferTask, type LatencyTask, type LoadTask, inferRows, measureLatency, preloadModel } from './infer/inference-task.js';
import { forgetPredictors, usesTfjs } from './infer/predictor.js';
import type { TrainTask } from './train/replica.js';
import { messageForCoordinator } from './errors.js';
import type { BackendInit, BackendName } from './kernels/backend.js';
import type { KernelChoice } from './kernels/kernel-choice.js';
import { type BarrierHandle, SharedBarrier } from './parallel/barrier.js';
import { trace } from './trace.js';

/** What a thread loads to run tfjs models. */
interface TfjsInit {
  candidates: BackendName[];
  /** Module URLs to import first (custom layers and the like). */
  imports: string[];
  kernels: KernelChoice;
  /** OpenBLAS threads (process-wide, so above 1 only in a one-worker pool). */
  blasThreads: number;
}

/** Loads tfjs and the backend in this thread (unless the pool runs only onnxruntime models), then waits for every other thread. */
interface InitTask {
  kind: 'init';
  /** Absent in a pool that runs only onnxruntime models: tfjs is not loaded, and the init returns null. */
  tfjs?: TfjsInit;
  barrier: BarrierHandle;
  timeoutMs: number;
}

/** Between runs on a kept thread: unloads the run's models; answers whether this thread was initialised. */
export interface ForgetTask {
  kind: 'forget';
}

export type WorkerTask = InitTask | LoadTask | InferTask | LatencyTask | TrainTask | ForgetTask;

/** Whether this thread has run its init task; a thread started in place of one that exited has not. */
let initialised = false;
/** Whether that init loaded tfjs and a backend: tfjs, and this thread's modules that import it, load only then. */
let tfjsLoaded = false;

async function init(task: InitTask): Promise<BackendInit | null> {
  const barrier = SharedBarrier.attach(task.barrier);
  try {
    let result: BackendInit | null = null;
    const { tfjs } = task;
    if (tfjs) {
      trace('worker backend begin');
      // Quiets tfjs's console advice (e.g. "install the node backend"); our own notices reach the report.
      (await import('./tf.cjs')).default.env().set('PROD', true);
      for (const url of tfjs.imports) await import(url);
      const { initBackend } = await import('./kernels/backend.js');
      result = await initBackend(tfjs.candidates, tfjs.kernels, tfjs.blasThreads);
      tfjsLoaded = true;
      trace('worker backend end');
    }
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
  if (task.kind === 'init') return init(task);
  // Any other task needs the backend and kernels the pool chose: never tfjs's default, silently.
  if (!initialised) throw new Error(`a worker thread that was not initialised got a '${task.kind}' task`);
  if (!tfjsLoaded && (task.kind === 'train' || usesTfjs(task.model))) {
    throw new Error(`internal: a '${task.kind}' task of a tfjs model reached a worker thread started without tfjs`);
  }
  switch (task.kind) {
    case 'load':
      return preloadModel(task);
    case 'infer':
      return inferRows(task);
    case 'latency':
      return measureLatency(task);
    case 'train':
      return (await import('./train/replica.js')).trainReplica(task);
  }
}
