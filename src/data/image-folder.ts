import type { Dirent, Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { extname, join } from 'node:path';
import { Piscina } from 'piscina';
import { DistillError, check, messageOf } from '../errors.js';
import { type Dataset, validateDataset } from './dataset.js';
import { type DecodeResult, type DecodeTask, type Sharp, loadSharp, probeImage } from './image-decode-worker.js';

/** Options of loadImageFolder. */
export interface ImageFolderOptions {
  /** Which split to load: DIR/train or DIR/test. */
  split: 'train' | 'test';
  /** [height, width] every image is resized to. Default: the size of the reference image (below). */
  imageSize?: [number, number];
  /** 1 (greyscale, as PIL's convert('L')) or 3 (RGB). Default: 1 if the reference image is greyscale, else 3. */
  channels?: 1 | 3;
  /** Decoding threads. Default: the machine's available parallelism. */
  workers?: number;
  /** Leave out images that cannot be decoded (listed in `skipped`) instead of failing. Default false. */
  skipBadImages?: boolean;
  /**
   * The class names, in index order; every class folder of the split must be among them. Default: the
   * class folders of DIR/train (sorted), also when loading the test split, so both splits agree on the
   * indices even when one lacks a class; the split's own folders if DIR/train does not exist.
   */
  classes?: string[];
  /** Called as batches of images finish decoding: images done so far, and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** An image left out with skipBadImages, and why it could not be decoded. */
export interface SkippedImage {
  path: string;
  reason: string;
}

/** What loadImageFolder returns. */
export interface ImageFolder {
  /** x: uint8 pixels [rows, height, width, channels] (NHWC, scaled by 1/255 when a run starts); y: class indices. */
  dataset: Dataset;
  /** Class names in index order: class i is classes[i]. */
  classes: string[];
  /** Images left out with skipBadImages (empty otherwise). */
  skipped: SkippedImage[];
}

const DEFAULTS = {
  workers: (): number => availableParallelism(),
  skipBadImages: false,
};

const EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp']);
const EXTENSION_LIST = '.png, .jpg, .jpeg, .webp';

const LAYOUT =
  'loadImageFolder expects the ImageFolder layout DIR/train/<class>/<image> and DIR/test/<class>/<image>, ' +
  `images being ${EXTENSION_LIST} files`;

const WORKER_URL = new URL('./image-decode-worker.js', import.meta.url);

/** Largest number of images in one decode task: small enough for even load and frequent progress. */
const MAX_BATCH = 64;

/** Both in UTF-8 byte order, which is code point order: Python's sorted() order, and so torchvision's. */
function sortNames(names: string[]): string[] {
  return names
    .map((name) => ({ name, key: Buffer.from(name, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ name }) => name);
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

async function readDir(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new DistillError(`cannot list ${dir}: ${messageOf(error)}`);
  }
}

/** Whether an entry is a directory (or file), following symbolic links as torchvision's ImageFolder does. */
async function entryKind(dir: string, entry: Dirent): Promise<'dir' | 'file' | 'other'> {
  if (entry.isSymbolicLink()) {
    const target = await statOrUndefined(join(dir, entry.name));
    return target?.isDirectory() ? 'dir' : target?.isFile() ? 'file' : 'other';
  }
  return entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : 'other';
}

/** The non-hidden subdirectories of a split folder, sorted: the class names. */
async function classFolders(splitDir: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readDir(splitDir)) {
    if (!entry.name.startsWith('.') && (await entryKind(splitDir, entry)) === 'dir') names.push(entry.name);
  }
  return sortNames(names);
}

/**
 * The images under a class folder, subfolders included, in torchvision ImageFolder's order (folders sorted
 * by path, files by name within each), so rows line up with teacher logits computed in Python. Hidden
 * files and folders are ignored, as are files of other extensions.
 */
async function listImages(classDir: string): Promise<string[]> {
  const dirs: string[] = [];
  const files = new Map<string, string[]>();
  const seen = new Set<string>(); // real paths, so a symbolic link loop ends
  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (seen.has(real)) return;
    seen.add(real);
    dirs.push(dir);
    const images: string[] = [];
    for (const entry of await readDir(dir)) {
      if (entry.name.startsWith('.')) continue;
      const kind = await entryKind(dir, entry);
      if (kind === 'dir') await walk(join(dir, entry.name));
      else if (kind === 'file' && EXTENSIONS.has(extname(entry.name).toLowerCase())) images.push(entry.name);
    }
    files.set(dir, sortNames(images));
  };
  await walk(classDir);
  return sortNames(dirs).flatMap((dir) => (files.get(dir) ?? []).map((name) => join(dir, name)));
}

/**
 * The images of one split with their class indices, in row order. `classesFrom` says where `classes` came
 * from (the classes option, or the train split's folders), for the message about a class not among them.
 */
async function listSplit(splitDir: string, classes: string[], classesFrom: string): Promise<{ paths: string[]; labels: number[] }> {
  const found = await classFolders(splitDir);
  check(found.length > 0, `${splitDir} has no class folders; ${LAYOUT}`);
  const paths: string[] = [];
  const labels: number[] = [];
  for (const name of found) {
    const label = classes.indexOf(name);
    check(
      label >= 0,
      () =>
        `${join(splitDir, name)} is a class folder, but '${name}' is not among the classes of ${classesFrom} (${classes.join(', ')}); ` +
        'every class needs a folder in the train split (and a name in classes, when given): add it there, or remove this folder',
      ['classes'],
    );
    const images = await listImages(join(splitDir, name));
    check(images.length > 0, `class folder ${join(splitDir, name)} has no ${EXTENSION_LIST} images; add images or remove the folder`);
    for (const path of images) {
      paths.push(path);
      labels.push(label);
    }
  }
  return { paths, labels };
}

async function isDirectory(path: string): Promise<boolean> {
  return (await statOrUndefined(path))?.isDirectory() ?? false;
}

function checkOptions(options: ImageFolderOptions): void {
  check(options.split === 'train' || options.split === 'test', `split must be 'train' or 'test', got ${JSON.stringify(options.split)}`, [
    'split',
  ]);
  const size = options.imageSize;
  check(
    size === undefined || (Array.isArray(size) && size.length === 2 && size.every((d) => Number.isInteger(d) && d > 0)),
    `imageSize must be [height, width] with positive integers, got ${JSON.stringify(size)}`,
    ['imageSize'],
  );
  const channels = options.channels;
  check(channels === undefined || channels === 1 || channels === 3, `channels must be 1 or 3, got ${channels}`, ['channels']);
  check(
    options.workers === undefined || (Number.isInteger(options.workers) && options.workers >= 1),
    `workers must be a positive integer, got ${options.workers}`,
    ['workers'],
  );
  const classes = options.classes;
  if (classes !== undefined) {
    check(
      Array.isArray(classes) && classes.every((name) => typeof name === 'string' && name !== ''),
      'classes must be an array of class folder names',
      ['classes'],
    );
    check(new Set(classes).size === classes.length, `classes must not repeat a name, got ${classes.join(', ')}`, ['classes']);
    check(classes.length >= 2, `classes must name at least 2 classes, got ${classes.length}`, ['classes']);
  }
}

/** The one error for undecodable images, or the error of a failed probe: names the first and counts the rest. */
function badImages(first: SkippedImage, count: number, total: number): DistillError {
  const counted = count > 1 ? `${count} of ${total} images cannot be decoded, the first being ` : 'cannot decode ';
  return new DistillError(
    `${counted}${first.path} (${first.reason}); replace or remove ${count > 1 ? 'them' : 'it'}, ` +
      'or set skipBadImages to leave unreadable images out',
    ['skipBadImages'],
  );
}

/** The first decodable image among `candidates`: its size and colour give the defaults. */
async function probeReference(sharp: Sharp, candidates: string[], skipBad: boolean) {
  for (const path of candidates) {
    try {
      return await probeImage(sharp, path);
    } catch (error) {
      if (!skipBad) throw badImages({ path, reason: messageOf(error) }, 1, 1);
    }
  }
  throw new DistillError(
    `none of the first ${candidates.length} images could be decoded (the first: ${candidates[0]}); check that they are valid images`,
  );
}

/** Reference images in order: the train split's first class with images, then the others (for skipBadImages). */
async function referenceCandidates(trainDir: string): Promise<string[]> {
  const candidates: string[] = [];
  for (const name of await classFolders(trainDir)) {
    candidates.push(...(await listImages(join(trainDir, name))));
    if (candidates.length >= 16) break; // enough to find a decodable one
  }
  return candidates;
}

function allocatePixels(rows: number, rowBytes: number, size: [number, number], channels: number): SharedArrayBuffer {
  try {
    return new SharedArrayBuffer(rows * rowBytes);
  } catch (error) {
    throw new DistillError(
      `cannot allocate ${rows * rowBytes} bytes for ${rows} images of ${size[0]}x${size[1]}x${channels} (${messageOf(error)}); ` +
        'choose a smaller imageSize',
      ['imageSize'],
    );
  }
}

/** Decodes every image into `pixels` on a pool of `workers` threads; returns the failures by row. */
async function decodeAll(
  paths: string[],
  pixels: SharedArrayBuffer,
  size: [number, number],
  channels: 1 | 3,
  workers: number,
  onProgress: ImageFolderOptions['onProgress'],
): Promise<DecodeResult['failures']> {
  const total = paths.length;
  const batchSize = Math.max(1, Math.min(MAX_BATCH, Math.ceil(total / (workers * 8))));
  const tasks: DecodeTask[] = [];
  for (let start = 0; start < total; start += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, total - start) }, (_, i) => start + i);
    tasks.push({ paths: rows.map((row) => paths[row]), rows, pixels, height: size[0], width: size[1], channels });
  }
  const threads = Math.min(workers, tasks.length);
  const pool = new Piscina({ filename: WORKER_URL.href, minThreads: threads, maxThreads: threads });
  try {
    let done = 0;
    const results = await Promise.all(
      tasks.map(async (task) => {
        let result: DecodeResult;
        try {
          result = (await pool.run(task)) as DecodeResult;
        } catch (error) {
          throw error instanceof DistillError ? error : new DistillError(`an image decoding worker failed: ${messageOf(error)}`);
        }
        done += task.paths.length;
        onProgress?.(done, total);
        return result;
      }),
    );
    return results.flatMap((result) => result.failures).sort((a, b) => a.row - b.row);
  } finally {
    await pool.destroy();
  }
}

/**
 * Loads one split of an image dataset in the ImageFolder layout (DIR/train/<class>/*.png, DIR/test/...,
 * as torchvision reads it): one class per folder, class indices in sorted folder order, rows in
 * torchvision's order. Images are decoded with sharp (an optional dependency) on a pool of worker threads
 * and resized to `imageSize` with fit 'fill' (stretched; nothing cropped). The pixels stay uint8, NHWC.
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<ImageFolder> {
  checkOptions(options);
  const workers = options.workers ?? DEFAULTS.workers();
  const skipBad = options.skipBadImages ?? DEFAULTS.skipBadImages;
  check(await isDirectory(dir), `image folder ${dir} does not exist or is not a directory; ${LAYOUT}`);
  const splitDir = join(dir, options.split);
  check(await isDirectory(splitDir), `image folder ${dir} has no ${options.split} folder (${splitDir}); ${LAYOUT}`);
  const trainDir = join(dir, 'train');
  const hasTrain = await isDirectory(trainDir);

  const classesDir = hasTrain ? trainDir : splitDir;
  const classes = options.classes ?? (await classFolders(classesDir));
  if (options.classes === undefined) {
    check(classes.length > 0, `${classesDir} has no class folders; ${LAYOUT}`);
    check(
      classes.length >= 2,
      `${classesDir} has 1 class folder (${classes[0]}); a classifier needs at least 2 classes, so at least 2 class folders`,
    );
  }
  const { paths, labels } = await listSplit(splitDir, classes, options.classes ? 'the classes option' : classesDir);

  // Loaded here before any worker starts: on glibc Linux, sharp must be loaded by the main thread first.
  const sharp = await loadSharp();
  let size = options.imageSize;
  let channels = options.channels;
  if (size === undefined || channels === undefined) {
    const candidates = options.split === 'train' || !hasTrain ? paths : await referenceCandidates(trainDir);
    const reference = await probeReference(sharp, candidates, skipBad);
    size ??= [reference.height, reference.width];
    channels ??= reference.grey ? 1 : 3;
  }

  const rowBytes = size[0] * size[1] * channels;
  const pixels = allocatePixels(paths.length, rowBytes, size, channels);
  const failures = await decodeAll(paths, pixels, size, channels, workers, options.onProgress);
  const skipped = failures.map(({ row, reason }) => ({ path: paths[row], reason }));
  if (skipped.length > 0 && !skipBad) throw badImages(skipped[0], skipped.length, paths.length);
  check(
    skipped.length < paths.length,
    () => `none of the ${paths.length} images in ${splitDir} could be decoded (the first: ${skipped[0].path}: ${skipped[0].reason})`,
  );

  // Skipped rows are squeezed out in place: rows move only towards the front, so nothing is overwritten early.
  const x = new Uint8Array(pixels);
  const y = new Int32Array(paths.length - skipped.length);
  const bad = new Set(failures.map((failure) => failure.row));
  let kept = 0;
  for (let row = 0; row < paths.length; row++) {
    if (bad.has(row)) continue;
    if (kept !== row) x.copyWithin(kept * rowBytes, row * rowBytes, (row + 1) * rowBytes);
    y[kept++] = labels[row];
  }
  const dataset: Dataset = { x: x.subarray(0, kept * rowBytes), y, shape: [kept, size[0], size[1], channels], numClasses: classes.length };
  validateDataset(dataset, splitDir);
  return { dataset, classes: [...classes], skipped };
}
