import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImageFolder } from '../dist/data/image-folder.js';
import { failure } from './helpers/failure.js';

type RGB = [number, number, number];

let root: string;
let dirCount = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'distill-image-folder-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh dataset folder; `files` maps relative paths to what to write (an image encoder or raw bytes). */
async function makeFolder(files: Record<string, (path: string) => Promise<unknown>>): Promise<string> {
  const dir = join(root, `set-${dirCount++}`);
  for (const [name, write] of Object.entries(files)) {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    await write(path);
  }
  return dir;
}

/** A height x width image of one colour, encoded by the file's extension (PNG and WebP losslessly). */
const solid =
  (height: number, width: number, [r, g, b]: RGB) =>
  (path: string) => {
    const image = sharp({ create: { width, height, channels: 3, background: { r, g, b } } });
    return encode(image, path);
  };

/** The gradient pixel (row, column): red rises along columns, green along rows, blue fixed. */
const gradientPixel = (row: number, column: number): RGB => [column * 40, row * 60, 100];

const gradient = (height: number, width: number) => (path: string) => {
  const data = Buffer.alloc(height * width * 3);
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) data.set(gradientPixel(r, c), (r * width + c) * 3);
  return encode(sharp(data, { raw: { width, height, channels: 3 } }), path);
};

/** A one-channel PNG whose pixel i is i * 10. */
const greyRamp = (height: number, width: number) => (path: string) => {
  const data = Buffer.from(Array.from({ length: height * width }, (_, i) => i * 10));
  return sharp(data, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(path);
};

const bytes = (content: Uint8Array | string) => (path: string) => writeFile(path, content);

function encode(image: sharp.Sharp, path: string) {
  if (path.endsWith('.jpg') || path.endsWith('.jpeg')) return image.jpeg({ quality: 95 }).toFile(path);
  if (path.endsWith('.webp')) return image.webp({ lossless: true }).toFile(path);
  return image.png().toFile(path);
}

/** The pixels of row `row` of an NHWC uint8 dataset, as [r, g, b] (or [v]) triples. */
function pixelsOf(x: Uint8Array, shape: number[], row: number): number[][] {
  const [, h, w, c] = shape;
  const out: number[][] = [];
  for (let i = 0; i < h * w; i++) out.push(Array.from(x.subarray(row * h * w * c + i * c, row * h * w * c + (i + 1) * c)));
  return out;
}

const BLUE: RGB = [0, 0, 255];
const RED: RGB = [220, 20, 10];

describe('loadImageFolder', () => {
  let colours: string;

  beforeAll(async () => {
    colours = await makeFolder({
      // Classes sort as blue (0), green (1), red (2); files sort within each.
      'train/blue/a.png': solid(4, 6, BLUE),
      'train/blue/b.jpg': solid(4, 6, BLUE),
      'train/blue/c.webp': solid(8, 12, BLUE), // resized to 4 x 6
      'train/green/a.png': gradient(4, 6),
      'train/green/notes.txt': bytes('not an image'),
      'train/green/.hidden.png': bytes('hidden, and not an image either'),
      'train/red/b.PNG': solid(2, 3, RED), // upper-case extension; resized up
      'train/red/a/nested.png': solid(4, 6, RED), // a subfolder's files come after the folder's own, as in torchvision
      'train/.ipynb_checkpoints/x.png': solid(4, 6, RED), // hidden: not a class
      'test/blue/x.jpeg': solid(4, 6, BLUE),
      'test/red/y.webp': solid(4, 6, RED),
    });
  });

  it('loads the train split: shape, class order, labels, pixels', async () => {
    const progress: [number, number][] = [];
    const { dataset, classes, skipped } = await loadImageFolder(colours, {
      split: 'train',
      workers: 2,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(classes).toEqual(['blue', 'green', 'red']);
    expect(skipped).toEqual([]);
    expect(dataset.shape).toEqual([6, 4, 6, 3]);
    expect(dataset.x).toBeInstanceOf(Uint8Array);
    expect(dataset.numClasses).toBe(3);
    expect(Array.from(dataset.y)).toEqual([0, 0, 0, 1, 2, 2]);
    const { x, shape } = dataset;
    // PNG and lossless WebP decode exactly, also after resizing a solid colour.
    for (const row of [0, 2]) expect(pixelsOf(x, shape, row)).toEqual(Array(24).fill(BLUE));
    for (const row of [4, 5]) expect(pixelsOf(x, shape, row)).toEqual(Array(24).fill(RED));
    expect(pixelsOf(x, shape, 3)).toEqual(Array.from({ length: 24 }, (_, i) => gradientPixel(Math.floor(i / 6), i % 6)));
    // JPEG is lossy: close, not exact.
    for (const pixel of pixelsOf(x, shape, 1)) pixel.forEach((v, c) => expect(Math.abs(v - BLUE[c])).toBeLessThanOrEqual(6));
    expect(progress.at(-1)).toEqual([6, 6]);
    expect(progress.map(([done]) => done)).toEqual([...progress.map(([done]) => done)].sort((a, b) => a - b));
  });

  it("loads the test split with the train split's class indices", async () => {
    const { dataset, classes } = await loadImageFolder(colours, { split: 'test', workers: 1 });
    expect(classes).toEqual(['blue', 'green', 'red']);
    expect(Array.from(dataset.y)).toEqual([0, 2]); // red keeps index 2 though test has no green
    expect(dataset.shape).toEqual([2, 4, 6, 3]); // the train split's first image sets the size
    for (const pixel of pixelsOf(dataset.x as Uint8Array, dataset.shape, 1)) expect(pixel).toEqual(RED);
  });

  it('resizes to imageSize and converts to 1 channel', async () => {
    const small = await loadImageFolder(colours, { split: 'train', imageSize: [2, 3], workers: 1 });
    expect(small.dataset.shape).toEqual([6, 2, 3, 3]);
    expect(pixelsOf(small.dataset.x as Uint8Array, small.dataset.shape, 0)).toEqual(Array(6).fill(BLUE));
    const grey = await loadImageFolder(colours, { split: 'train', channels: 1, workers: 1 });
    expect(grey.dataset.shape).toEqual([6, 4, 6, 1]);
    // PIL's convert('L'): (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16.
    const pilLuma = ([r, g, b]: RGB) => (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
    expect(Array.from(grey.dataset.x.subarray(0, 24))).toEqual(Array(24).fill(pilLuma(BLUE)));
    expect(Array.from(grey.dataset.x.subarray(3 * 24, 4 * 24))).toEqual(
      Array.from({ length: 24 }, (_, i) => pilLuma(gradientPixel(Math.floor(i / 6), i % 6))),
    );
  });

  it('defaults to 1 channel for greyscale images, and to 3 when asked', async () => {
    const dir = await makeFolder({
      'train/a/1.png': greyRamp(3, 4),
      'train/b/1.png': greyRamp(3, 4),
      'test/a/1.png': greyRamp(3, 4),
    });
    const grey = await loadImageFolder(dir, { split: 'train', workers: 1 });
    expect(grey.dataset.shape).toEqual([2, 3, 4, 1]);
    const ramp = Array.from({ length: 12 }, (_, i) => i * 10);
    expect(Array.from(grey.dataset.x)).toEqual([...ramp, ...ramp]);
    const rgb = await loadImageFolder(dir, { split: 'test', channels: 3, workers: 1 });
    expect(rgb.dataset.shape).toEqual([1, 3, 4, 3]);
    expect(pixelsOf(rgb.dataset.x as Uint8Array, rgb.dataset.shape, 0)).toEqual(ramp.map((v) => [v, v, v]));
  });

  it('fails on a corrupt image, naming it, and skips it with skipBadImages', async () => {
    const dir = await makeFolder({
      'train/a/1.png': solid(3, 3, BLUE),
      'train/a/2.png': bytes(randomBytes(200)),
      'train/a/3.png': solid(3, 3, RED),
      'train/b/1.jpg': bytes(randomBytes(100)),
      'train/b/2.png': solid(3, 3, BLUE),
    });
    const message = await failure(loadImageFolder(dir, { split: 'train', workers: 2 }));
    expect(message).toContain(`2 of 5 images cannot be decoded, the first being ${join(dir, 'train', 'a', '2.png')}`);
    expect(message).toContain('skipBadImages');
    const error = await loadImageFolder(dir, { split: 'train', workers: 1 }).catch((e) => e);
    expect(error.options).toEqual(['skipBadImages']);
    const { dataset, skipped } = await loadImageFolder(dir, { split: 'train', workers: 2, skipBadImages: true });
    expect(skipped.map((s) => s.path)).toEqual([join(dir, 'train', 'a', '2.png'), join(dir, 'train', 'b', '1.jpg')]);
    expect(skipped.every((s) => s.reason.length > 0)).toBe(true);
    expect(dataset.shape).toEqual([3, 3, 3, 3]);
    expect(Array.from(dataset.y)).toEqual([0, 0, 1]);
    const x = dataset.x as Uint8Array;
    expect([0, 1, 2].map((row) => pixelsOf(x, dataset.shape, row)[4])).toEqual([BLUE, RED, BLUE]);
  });

  it('fails on a corrupt first image (the size probe) with the same advice', async () => {
    const dir = await makeFolder({
      'train/a/1.png': bytes(randomBytes(64)),
      'train/a/2.png': solid(3, 5, BLUE),
      'train/b/1.png': solid(3, 5, RED),
    });
    expect(await failure(loadImageFolder(dir, { split: 'train', workers: 1 }))).toMatch(
      new RegExp(`cannot decode ${join(dir, 'train', 'a', '1.png')} \\(.*\\).*skipBadImages`),
    );
    const { dataset, skipped } = await loadImageFolder(dir, { split: 'train', workers: 1, skipBadImages: true });
    expect(dataset.shape).toEqual([2, 3, 5, 3]);
    expect(skipped).toHaveLength(1);
  });

  it('gives identical datasets with 1 and 2 workers', async () => {
    const files: Record<string, (path: string) => Promise<unknown>> = {};
    for (let i = 0; i < 30; i++) {
      const noise = randomBytes(5 * 7 * 3);
      const write = (path: string) =>
        sharp(noise, { raw: { width: 7, height: 5, channels: 3 } })
          .png()
          .toFile(path);
      files[`train/c${i % 3}/${String(i).padStart(2, '0')}.png`] = write;
    }
    const dir = await makeFolder(files);
    const one = await loadImageFolder(dir, { split: 'train', workers: 1, imageSize: [4, 4] });
    const two = await loadImageFolder(dir, { split: 'train', workers: 2, imageSize: [4, 4] });
    expect(one.dataset.shape).toEqual([30, 4, 4, 3]);
    expect(Buffer.from(two.dataset.x).equals(Buffer.from(one.dataset.x))).toBe(true);
    expect(Array.from(two.dataset.y)).toEqual(Array.from(one.dataset.y));
  });

  it('says how to install sharp when it cannot be loaded', async () => {
    // A child process whose module resolver refuses 'sharp', as if the optional dependency were not installed.
    const dataUrl = (code: string) => `data:text/javascript,${encodeURIComponent(code)}`;
    const hooks = `export async function resolve(specifier, context, next) {
      if (specifier === 'sharp') throw new Error('Cannot find package sharp');
      return next(specifier, context);
    }`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify(dataUrl(hooks))});`;
    const loader = new URL('../dist/data/image-folder.js', import.meta.url).href;
    const script = `import { loadImageFolder } from ${JSON.stringify(loader)};
      try { await loadImageFolder(${JSON.stringify(colours)}, { split: 'train' }); } catch (e) { console.log(e.name + ': ' + e.message); }`;
    const args = ['--import', dataUrl(register), '--input-type=module', '-e', script];
    const { stdout } = await promisify(execFile)(process.execPath, args);
    expect(stdout.trim()).toMatch(/^DistillError: loadImageFolder decodes images with the optional dependency sharp, .*npm install sharp$/);
  });

  it('reports layout problems clearly', async () => {
    expect(await failure(loadImageFolder(join(root, 'missing'), { split: 'train' }))).toMatch(/image folder .*missing does not exist/);
    const noTest = await makeFolder({ 'train/a/1.png': solid(2, 2, BLUE), 'train/b/1.png': solid(2, 2, RED) });
    expect(await failure(loadImageFolder(noTest, { split: 'test' }))).toMatch(/has no test folder .*DIR\/train\/<class>/);
    const flat = await makeFolder({ 'train/1.png': solid(2, 2, BLUE) });
    expect(await failure(loadImageFolder(flat, { split: 'train' }))).toMatch(/train has no class folders/);
    const empty = await makeFolder({ 'train/a/1.png': solid(2, 2, BLUE), 'train/b/readme.txt': bytes('') });
    expect(await failure(loadImageFolder(empty, { split: 'train' }))).toMatch(
      /class folder .*train\/b has no \.png, \.jpg, \.jpeg, \.webp images/,
    );
    const one = await makeFolder({ 'train/a/1.png': solid(2, 2, BLUE) });
    expect(await failure(loadImageFolder(one, { split: 'train' }))).toMatch(/has 1 class folder \(a\); a classifier needs at least 2/);
    const extra = await makeFolder({
      'train/a/1.png': solid(2, 2, BLUE),
      'train/b/1.png': solid(2, 2, RED),
      'test/c/1.png': solid(2, 2, RED),
    });
    expect(await failure(loadImageFolder(extra, { split: 'test' }))).toMatch(
      /test\/c is a class folder, but 'c' is not among the classes of .*train \(a, b\); every class needs a folder in the train split/,
    );
    expect(await failure(loadImageFolder(extra, { split: 'test', classes: ['a', 'b', 'c'], imageSize: [0, 2] }))).toMatch(
      /imageSize must be \[height, width\]/,
    );
  });
});
