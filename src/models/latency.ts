// How long a shipped model takes to predict, as its user would see it in one thread: a saved model loaded
// with stock tfjs, one row at a time (an interactive page) and 256 rows at a time (a batch job), each
// prediction read back to JavaScript. The run measures its student this way on the test rows.
import { Worker } from 'node:worker_threads';
import { type Dataset, featureShape, holdsPixels, rowCount, rowSize } from '../data/dataset.js';
import { check, DistillError, messageOf } from '../errors.js';
import type { LatencyWorkerData, LatencyWorkerReply, LatencyWorkerRequest } from './latency-worker.js';
import type { StockArtifacts } from './variant-check.js';

/** Batch-1 and batch-256 prediction times of a model, medians over repeats after a warm-up. */
export interface LatencyMeasurement {
  /** The tfjs backend that ran the predictions. */
  backend: string;
  /** Milliseconds to predict one row and read its output back. */
  batch1Ms: number;
  /** Milliseconds to predict 256 rows and read their outputs back. */
  batch256Ms: number;
  /** 256 rows over batch256Ms, in rows per second. */
  batch256RowsPerSec: number;
  /** Timed predictions at each batch size (after warming up). */
  repeats: { batch1: number; batch256: number };
}

const WORKER_URL = new URL('./latency-worker.js', import.meta.url);

/** Options of {@link measureLatency}. */
export interface LatencyOptions {
  /** The tfjs backend to measure on, in a thread of its own (this thread's backend is left alone); default: stock `wasm`. */
  backend?: string;
  /** Timed single-row predictions; default 50. */
  batch1Repeats?: number;
  /** Timed 256-row predictions; default 5. */
  batch256Repeats?: number;
}

/**
 * Loads a saved model's artifacts with stock tfjs on `options.backend` and times its predictions on the test
 * rows (wrapping round when there are fewer than 256): batch 1 and batch 256, inputs built before the clock starts.
 */
export async function measureLatency(artifacts: StockArtifacts, test: Dataset, options: LatencyOptions = {}): Promise<LatencyMeasurement> {
  check(rowCount(test) > 0, 'there are no test rows to time the model on; give a test split with rows');
  const repeats = { batch1: options.batch1Repeats ?? 50, batch256: options.batch256Repeats ?? 5 };
  const data: LatencyWorkerData = {
    artifacts,
    rows: firstRows(test, Math.max(repeats.batch1, 256 * repeats.batch256)),
    rowShape: featureShape(test),
    backend: options.backend ?? 'wasm',
    repeats,
  };
  const reply = await askMeasuringThread(data);
  if ('error' in reply) throw new DistillError(reply.error);
  if (!('measurement' in reply)) throw new DistillError('internal: the measuring thread answered a measurement without one');
  return reply.measurement;
}

/**
 * Starts the measuring thread, if it is not running, and loads `backend` in it, so that the first measurement
 * does not wait for tfjs to load: a sweep calls it while its teacher labels. Resolves once the thread is ready;
 * a failure is left for the measurement to report.
 */
export async function warmMeasuringThread(backend = 'wasm'): Promise<void> {
  await askMeasuringThread({ warm: backend });
}

/** The measuring thread, started on the first request and kept (unreferenced while idle) for the next. */
let measuringThread: { worker: Worker; pending: Map<number, (reply: LatencyWorkerReply) => void>; next: number } | undefined;

function askMeasuringThread(data: LatencyWorkerRequest): Promise<LatencyWorkerReply> {
  if (!measuringThread) {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_URL);
    } catch (error) {
      return Promise.resolve({ error: `cannot start the latency measuring thread: ${messageOf(error)}` });
    }
    const thread = { worker, pending: new Map<number, (reply: LatencyWorkerReply) => void>(), next: 0 };
    const failAll = (message: string) => {
      if (measuringThread === thread) measuringThread = undefined;
      for (const answer of thread.pending.values()) answer({ error: message });
      thread.pending.clear();
    };
    worker.on('message', ({ id, reply }: { id: number; reply: LatencyWorkerReply }) => {
      thread.pending.get(id)?.(reply);
      thread.pending.delete(id);
      if (thread.pending.size === 0) worker.unref();
    });
    worker.on('messageerror', (error) => {
      failAll(`the measuring thread's reply could not be read: ${messageOf(error)}`);
      void worker.terminate();
    });
    worker.on('error', (error) => failAll(`the measuring thread failed: ${messageOf(error)}`));
    worker.on('exit', (code) => failAll(`the measuring thread exited with code ${code} before it replied`));
    measuringThread = thread;
  }
  const thread = measuringThread;
  const id = thread.next++;
  thread.worker.ref();
  return new Promise((resolve) => {
    thread.pending.set(id, resolve);
    thread.worker.postMessage({ id, data });
  });
}

/**
 * The first `count` rows (all of them when there are fewer) as float32, uint8 pixels scaled by 1/255 as a
 * run does: the measurement wraps round them, so it times the same rows as it would on the whole split.
 */
function firstRows(test: Dataset, count: number): Float32Array {
  const size = rowSize(test);
  const rows = Math.min(count, rowCount(test));
  const values = Float32Array.from(test.x.subarray(0, rows * size));
  if (holdsPixels(test)) for (let i = 0; i < values.length; i++) values[i] /= 255;
  return values;
}
