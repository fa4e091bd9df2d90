// Where a text student's training step goes, on one thread with the kernels the workers run (wasm backend,
// tfjs-distill's kernels, OpenBLAS where it loads): the forward and backward pass as replica-step.ts runs it
// (tf.variableGrads of the KD loss), timed per kernel by tf.profile and whole by the clock, then the copies
// and the Adam update around it, timed apart. Token ids are random in [1, vocab) with random row lengths
// (padding after), as tokenised text is. Not part of `npm run bench`. Needs a build (dist/):
//   node bench/text-step-profile.mjs [--students bag:32,cnn1d:32,64] [--batch 128] [--max-length 128] [--vocab 4000] [--steps 20]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/kernels/backend.js';
import { buildModel } from '../dist/models/architectures.js';
import { mulberry32 } from '../dist/random.js';
import { meanLoss } from '../dist/train/losses.js';

const { values: args } = parseArgs({
  options: {
    students: { type: 'string' },
    batch: { type: 'string' },
    'max-length': { type: 'string' },
    vocab: { type: 'string' },
    steps: { type: 'string' },
  },
});
const students = (args.students ?? 'bag:32,cnn1d:32,64').split(/,(?=[a-z])/);
const batch = Number(args.batch ?? 128);
const maxLength = Number(args['max-length'] ?? 128);
const vocabSize = Number(args.vocab ?? 4000);
const steps = Number(args.steps ?? 20);
tf.env().set('PROD', true);
const init = await initBackend(['wasm'], 'auto');
console.log(`backend ${init.backend}, kernels ${init.kernels}`);

const random = mulberry32(5);
const ids = new Float32Array(batch * maxLength);
for (let r = 0; r < batch; r++) {
  const length = 1 + Math.floor(random() * maxLength);
  for (let t = 0; t < length; t++) ids[r * maxLength + t] = 1 + Math.floor(random() * (vocabSize - 1));
}
const teacherValues = Float32Array.from({ length: batch * 2 }, () => random() * 8 - 4);
const labelValues = Int32Array.from({ length: batch }, () => (random() < 0.5 ? 0 : 1));
const loss = { name: 'kd', temperature: 4, alpha: 0.9 };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const spec of students) {
  const model = buildModel(spec, { inputShape: [maxLength], numClasses: 2, vocabSize, seed: 1 });
  const variables = model.trainableWeights.map((w) => w.read());
  const size = variables.reduce((n, v) => n + v.size, 0);
  const flat = new Float32Array(size + 1);
  const pass = () =>
    tf.tidy(() => {
      const x = tf.tensor(ids, [batch, maxLength]);
      const teacher = tf.tensor2d(teacherValues, [batch, 2]);
      const labels = tf.tensor1d(labelValues, 'int32');
      const { value, grads } = tf.variableGrads(
        () => meanLoss(loss, { student: model.apply(x, { training: true }), teacher, labels }),
        variables,
      );
      let offset = 0;
      for (const v of variables) {
        flat.set(grads[v.name].dataSync(), offset);
        offset += v.size;
      }
      return value.dataSync()[0];
    });
  for (let i = 0; i < 3; i++) pass();
  const passMs = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    pass();
    passMs.push(performance.now() - t0);
  }
  // The update as the shared weights get it: Adam over the flat buffer (a plain JS loop, as optimizers.ts).
  const weights = new Float32Array(size);
  const m = new Float32Array(size);
  const v = new Float32Array(size);
  const updateMs = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    for (let j = 0; j < size; j++) {
      m[j] = 0.9 * m[j] + 0.1 * flat[j];
      v[j] = 0.999 * v[j] + 0.001 * flat[j] * flat[j];
      weights[j] -= (1e-3 * m[j]) / (Math.sqrt(v[j]) + 1e-7);
    }
    tf.tidy(() => {
      let offset = 0;
      for (const variable of variables) {
        variable.assign(tf.tensor(weights.subarray(offset, offset + variable.size), variable.shape));
        offset += variable.size;
      }
    });
    updateMs.push(performance.now() - t0);
  }
  // Each kernel's time is its median over several profiled passes (one pass alone is at the mercy of a GC pause).
  const perPass = [];
  for (let i = 0; i < 5; i++) {
    const profile = await tf.profile(() => pass());
    const pass1 = new Map();
    for (const k of profile.kernels) {
      const entry = pass1.get(k.name) ?? { ms: 0, calls: 0 };
      entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      entry.calls++;
      pass1.set(k.name, entry);
    }
    perPass.push(pass1);
  }
  const byKernel = new Map(
    [...perPass[0]].map(([name, e]) => [name, { ms: median(perPass.map((p) => p.get(name)?.ms ?? 0)), calls: e.calls }]),
  );
  const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  console.log(
    `\n${spec}: ${size} weights, batch ${batch} x ${maxLength}; forward+backward median ${median(passMs).toFixed(2)} ms ` +
      `(${((batch / median(passMs)) * 1000).toFixed(0)} samples/s before the update); update (Adam loop + reload) ` +
      `${median(updateMs).toFixed(2)} ms; kernels in the profiled pass ${total.toFixed(2)} ms`,
  );
  for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15))
    console.log(`  ${name.padEnd(28)} ${e.ms.toFixed(2).padStart(8)} ms  ${String(e.calls).padStart(3)} calls`);
  model.dispose();
}
