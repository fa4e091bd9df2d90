// `npm run build && node bench/concurrent-matmul.mjs`: one thread, then two, each running the three
// matMuls of a dense layer's training step (128x1024 @ 1024x1024, forward and both gradients) with the openblas
// kernels: do two concurrent sgemms get twice the throughput of one on this machine?
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
if (isMainThread) {
  const run = (n) =>
    Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise((resolve) => {
            const w = new Worker(new URL(import.meta.url), { workerData: {} });
            w.once('message', resolve);
          }),
      ),
    );
  for (const n of [1, 2, 1, 2]) {
    const r = await run(n);
    console.log(
      `threads ${n}: GFLOP/s per thread ${r.map((x) => x.toFixed(1)).join(', ')}; total ${r.reduce((a, b) => a + b, 0).toFixed(1)}`,
    );
  }
} else {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend } = await import('../dist/kernels/backend.js');
  await initBackend(['wasm'], 'openblas');
  const a = tf.randomNormal([128, 1024]),
    b = tf.randomNormal([1024, 1024]),
    dy = tf.randomNormal([128, 1024]);
  const step = () =>
    tf.tidy(() => {
      tf.matMul(a, b).dataSync();
      tf.matMul(dy, b, false, true).dataSync();
      tf.matMul(a, dy, true, false).dataSync();
    });
  for (let i = 0; i < 5; i++) step();
  const t = performance.now();
  const n = 40;
  for (let i = 0; i < n; i++) step();
  const s = (performance.now() - t) / 1000;
  parentPort.postMessage((n * 3 * 2 * 128 * 1024 * 1024) / s / 1e9);
}
