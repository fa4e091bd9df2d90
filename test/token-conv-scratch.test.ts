import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { requiredBlas } from './helpers/native-blas.js';

// The addon's cnn1d loops keep scratch space from call to call (the backward pass's transposed filters, the
// forward pass's equal-window table). Pool workers are threads that end (a pool closed, a worker restarted
// after a failure) while the process lives on, as a queue worker's does from job to job: a thread's scratch
// must go with it.

/** Filters [1, WIDTH, FILTERS]: the backward pass's scratch is two copies of them. */
const WIDTH = 2048;
const FILTERS = 2048;
const SCRATCH_MIB = (2 * WIDTH * FILTERS * 4) / 2 ** 20;

/** One thread's run of both passes over one row of one token; it posts once done. */
const THREAD = `
  const { parentPort, workerData } = require('node:worker_threads');
  (async () => {
    const { loadBlas } = await import(workerData.loader);
    const { blas } = loadBlas();
    const { width, filters } = workerData;
    const kernel = width * filters;
    const weights = new Float32Array(2 * width + kernel + filters).fill(0.001);
    const layout = Int32Array.of(0, 2, width, 2 * width, 2 * width + kernel, 1, filters, 1);
    const ids = Float32Array.of(1);
    const [col, out, pooled] = [new Float32Array(width), new Float32Array(filters), new Float32Array(filters)];
    const index = new Int32Array(2 + 2 * filters + 1);
    blas.tokenConvForward(weights, layout, ids, 1, col, out, pooled, index);
    const grad = new Float32Array(weights.length);
    const dPooled = new Float32Array(filters).fill(1);
    blas.tokenConvBackward(weights, layout, ids, 1, col, out, pooled, index, dPooled, grad, 1e30);
    parentPort.postMessage({ bias: grad[2 * width + kernel] });
  })().catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));
`;

async function runThread(): Promise<void> {
  const loader = new URL('../dist/kernels/blas-loader.js', import.meta.url).pathname;
  const worker = new Worker(THREAD, { eval: true, workerData: { loader, width: WIDTH, filters: FILTERS } });
  const reply = await new Promise<{ bias?: number; error?: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  expect(reply.error).toBeUndefined();
  expect(reply.bias).toBe(1); // the pass ran: the one position's maximum sent its gradient to the bias
}

describe.runIf('blas' in requiredBlas())('token conv: the addon scratch space of threads that end', () => {
  it("a thread's scratch is freed when the thread ends, not kept by the process", async () => {
    await runThread(); // the first thread's one-off costs (the addon, OpenBLAS) stay out of the count
    const before = process.memoryUsage().rss;
    const threads = 5;
    for (let i = 0; i < threads; i++) await runThread();
    const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
    // Kept scratch grows the process by every thread's (five); freed, by far less than two threads' worth.
    expect(grownMiB).toBeLessThan(2 * SCRATCH_MIB);
  });
});
