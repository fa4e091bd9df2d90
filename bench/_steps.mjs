import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, distill } from '../dist/index.js';
import { mulberry32 } from '../dist/random.js';
const maxLength = 128, rows = 3516, vocab = 4000;
const random = mulberry32(5);
const x = new Float32Array(rows * maxLength);
for (let r = 0; r < rows; r++) { const n = 1 + Math.floor(random() * maxLength); for (let t = 0; t < n; t++) x[r * maxLength + t] = 1 + Math.floor(random() * (vocab - 1)); }
const y = Int32Array.from({ length: rows }, () => (random() < 0.5 ? 0 : 1));
const data = { x, y, shape: [rows, maxLength], numClasses: 2 };
const dir = await mkdtemp(join(tmpdir(), 'steps-'));
const vals = Float32Array.from({ length: rows * 2 }, () => random() * 8 - 4);
let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, 2), }`;
header += `${' '.repeat(64 - ((10 + header.length + 1) % 64))}\n`;
const prefix = Buffer.alloc(10); prefix.write('\x93NUMPY', 0, 'latin1'); prefix[6] = 1; prefix.writeUInt16LE(header.length, 8);
await writeFile(join(dir, 'l.npy'), Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(vals.buffer)]));
for (const spec of (process.argv[2] ?? 'bag:32').split(';')) for (const workers of [1, 2]) {
  const { report } = await distill({
    teacherLogits: join(dir, 'l.npy'), student: buildModel(spec, { inputShape: [maxLength], numClasses: 2, vocabSize: vocab, seed: 2 }),
    train: data, test: { ...data, x: x.subarray(0, 256 * maxLength), y: y.subarray(0, 256), shape: [256, maxLength] },
    epochs: Number(process.argv[3] ?? 1), batchSize: 128, optimizer: { name: 'adam', learningRate: 1e-3 }, temperature: 4, alpha: 0.9, workers, allowWeakTeacher: true,
  });
  const p = report.phases.find((q) => q.phase === 'student');
  console.log(spec, 'W=' + workers, Math.round(p.samplesPerSec), 'samples/s', p.steps, 'steps', p.seconds.toFixed(3), 's', JSON.stringify(p.stepMs));
}
