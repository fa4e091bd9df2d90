import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DistillError, check, messageOf } from '../errors.js';
import type { Dataset } from './dataset.js';

const gunzipAsync = promisify(gunzip);

/** One array read from an IDX file: its dimension sizes and its raw uint8 values. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** The magic numbers loadIdx expects: 0x00 0x00, type byte 0x08 (uint8), then the rank. */
const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

function describeMagic(magic: number): string {
  if (magic === IMAGES_MAGIC) return 'uint8 images of rank 3';
  if (magic === LABELS_MAGIC) return 'uint8 labels of rank 1';
  if (magic >>> 16 !== 0) return 'not an IDX header';
  return `type 0x${((magic >>> 8) & 0xff).toString(16).padStart(2, '0')}, rank ${magic & 0xff}`;
}

const FILE_PREFIX = { train: 'train', test: 't10k' } as const;

const LAYOUT =
  'an idx data directory holds the MNIST layout: train-images-idx3-ubyte, train-labels-idx1-ubyte, ' +
  't10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally gzipped (.gz)';

const hex = (value: number): string => `0x${value.toString(16).padStart(8, '0')}`;

/**
 * Parses one uint8 IDX file already in memory, whose magic number must be `expectedMagic`; `file` names it
 * in messages. Exported for the tests only: the public index re-exports `loadIdx` alone.
 */
export function parseIdx(bytes: Uint8Array, file: string, expectedMagic: number): IdxArray {
  check(bytes.length >= 4, `${file} is truncated: ${bytes.length} bytes is too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  // A gzipped file under a plain name is the likeliest mix-up, so it gets its own fix.
  const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b;
  check(
    magic === expectedMagic,
    () =>
      `${file} has magic number ${hex(magic)} (${describeMagic(magic)}), ` +
      `expected ${hex(expectedMagic)} (${describeMagic(expectedMagic)}); ` +
      (gzipped ? 'it looks gzipped, so give it a .gz name' : 'it is not the IDX file this name should hold'),
  );
  const rank = magic & 0xff;
  const headerSize = 4 + 4 * rank;
  check(
    bytes.length >= headerSize,
    `${file} is truncated: ${bytes.length} bytes is too short for the ${headerSize}-byte header of a rank-${rank} IDX file`,
  );
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  check(
    dims.every((d) => d > 0),
    () => `${file} declares dimensions ${dims.join(' x ')}; a dimension of 0 leaves no data to load`,
  );
  const declared = dims.reduce((a, b) => a * b, 1);
  const declaredText = rank > 1 ? `${dims.join(' x ')} = ${declared}` : `${declared}`;
  const actual = bytes.length - headerSize;
  check(actual >= declared, () => `${file} is truncated: the header declares ${declaredText} bytes of data, but ${actual} follow`);
  check(
    actual === declared,
    () =>
      `${file} has ${actual} bytes of data, but the header declares ${declaredText}; ` +
      'its dimensions do not match the byte count, so the file is corrupt or not an IDX file',
  );
  // A copy, not a view: a Buffer (or a view into Node's shared pool) would leak its constructor and
  // its backing memory into everything downstream.
  return { dims, data: new Uint8Array(bytes.subarray(headerSize)) };
}

/** The names one IDX file may have, in order of preference: uncompressed first, since it needs no gunzip. */
function candidateNames(split: 'train' | 'test', what: 'images' | 'labels'): string[] {
  const rank = what === 'images' ? 3 : 1;
  const dashed = `${FILE_PREFIX[split]}-${what}-idx${rank}-ubyte`;
  const dotted = `${FILE_PREFIX[split]}-${what}.idx${rank}-ubyte`;
  return [dashed, `${dashed}.gz`, dotted, `${dotted}.gz`];
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function findFile(dir: string, split: 'train' | 'test', what: 'images' | 'labels'): Promise<string> {
  const names = candidateNames(split, what);
  for (const name of names) {
    const path = join(dir, name);
    if (await isFile(path)) return path;
  }
  throw new DistillError(`idx data directory ${dir} has no ${split} ${what} file (looked for ${names.join(', ')}); ${LAYOUT}`);
}

/** Reads a file, gunzipping it when its name ends in .gz. */
async function readMaybeGzipped(path: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new DistillError(`cannot read ${path}: ${messageOf(error)}`);
  }
  if (!path.endsWith('.gz')) return bytes;
  try {
    return await gunzipAsync(bytes);
  } catch (error) {
    throw new DistillError(`${path} is not valid gzip (${messageOf(error)}); download it again, or decompress it and drop the .gz`);
  }
}

async function checkDirectory(dir: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch {
    throw new DistillError(`idx data directory ${dir} does not exist; ${LAYOUT}`);
  }
  check(isDirectory, `idx data path ${dir} is not a directory; ${LAYOUT}`);
}

/**
 * Loads one split of an MNIST-style IDX dataset (MNIST, Fashion-MNIST, KMNIST, ...) from `dir`. Pixels
 * stay raw uint8 (the run scales them); the number of classes is the largest label + 1.
 */
export async function loadIdx(dir: string, split: 'train' | 'test'): Promise<Dataset> {
  await checkDirectory(dir);
  const [imagesPath, labelsPath] = await Promise.all([findFile(dir, split, 'images'), findFile(dir, split, 'labels')]);
  const [imageBytes, labelBytes] = await Promise.all([readMaybeGzipped(imagesPath), readMaybeGzipped(labelsPath)]);
  const images = parseIdx(imageBytes, imagesPath, IMAGES_MAGIC);
  const labels = parseIdx(labelBytes, labelsPath, LABELS_MAGIC);
  const [rows, height, width] = images.dims;
  check(
    rows === labels.dims[0],
    `${imagesPath} holds ${rows} images but ${labelsPath} holds ${labels.dims[0]} labels; both files must come from the same split`,
  );
  const y = Int32Array.from(labels.data);
  let maxLabel = 0;
  for (let i = 0; i < y.length; i++) if (y[i] > maxLabel) maxLabel = y[i];
  return { x: images.data, y, shape: [rows, height, width], numClasses: Math.max(2, maxLabel + 1) };
}
