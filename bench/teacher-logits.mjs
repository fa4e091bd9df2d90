// Seeded teacher logits for the benches' CLI runs (`--teacher-logits FILE`): the same values in every bench
// that times a run on the same rows, so their figures compare.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadMnist } from '../dist/data/mnist.js';
import { mulberry32 } from '../dist/random.js';
import { npyFloat32 } from './npy-writer.mjs';

/** Writes DIR/teacher-logits.npy for the bundled digits' training rows; returns its path. */
export async function writeDigitLogits(dir) {
  const { train } = await loadMnist();
  const random = mulberry32(3);
  const rows = train.shape[0];
  const logits = Float32Array.from({ length: rows * train.numClasses }, () => random() * 8 - 4);
  const file = join(dir, 'teacher-logits.npy');
  await writeFile(file, npyFloat32(logits, [rows, train.numClasses]));
  return file;
}

/** Writes DIR/logits.npy, two classes for each row of the text file `trainFile` (one row a line); returns its path. */
export async function writeTextLogits(dir, trainFile) {
  const rows = (await readFile(trainFile, 'utf8')).trim().split('\n').length;
  let state = 7;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 8 - 4;
  const file = join(dir, 'logits.npy');
  await writeFile(file, npyFloat32(Float32Array.from({ length: rows * 2 }, random), [rows, 2]));
  return file;
}

/** `tfjs-distill run` arguments of the bench's KD job (BENCH_SETTINGS `settings`) for one student on the digits. */
export function kdRunArgs({ spec, workers, epochs, logitsFile, out, settings }) {
  return [
    'dist/cli/main.js',
    'run',
    ...['--data', 'mnist', '--teacher-logits', logitsFile, '--allow-weak-teacher', '--student-arch', spec],
    ...['--batch-size', String(settings.batchSize), '--epochs', String(epochs), '--workers', String(workers)],
    ...['--temperature', String(settings.temperature), '--alpha', String(settings.alpha), '--lr', String(settings.learningRate)],
    ...['--out', out],
  ];
}
