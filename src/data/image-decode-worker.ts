/**
 * The image-decoding thread of loadImageFolder: Piscina calls the default export with a batch of paths and
 * the rows they go to; it decodes each with sharp and writes the raw pixels straight into the shared
 * output buffer, so nothing bulky crosses back. Also exports the sharp loader and the decode step, which
 * the coordinating thread uses to probe the first image.
 */
import { DistillError, messageOf } from '../errors.js';

/**
 * The part of sharp's API used here, typed here rather than imported: sharp is an optional dependency, so
 * neither this build nor a user's type check may depend on its types being installed.
 */
interface SharpPipeline {
  metadata(): Promise<{ channels: number; space: string; autoOrient: { width: number; height: number } }>;
  resize(width: number, height: number, options: { fit: 'fill' }): SharpPipeline;
  removeAlpha(): SharpPipeline;
  toColourspace(space: 'srgb'): SharpPipeline;
  raw(options?: { depth: 'uchar' }): SharpPipeline;
  toBuffer(): Promise<Buffer>;
  toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
}

export type Sharp = (input: string, options?: { autoOrient?: boolean }) => SharpPipeline;

/** A variable, so TypeScript does not resolve (and require) sharp's types. */
const SHARP = 'sharp';

/** Images each worker keeps in flight: sharp runs on libuv's thread pool, so a few overlap their I/O. */
const IN_FLIGHT = 4;

let sharpModule: Promise<Sharp> | undefined;

/** Imports sharp once per thread, or says how to install it. */
export function loadSharp(): Promise<Sharp> {
  sharpModule ??= import(SHARP).then(
    (module: { default: Sharp }) => module.default,
    (error: unknown) => {
      sharpModule = undefined;
      throw new DistillError(
        `loadImageFolder decodes images with the optional dependency sharp, which failed to load (${messageOf(error)}); ` +
          'install it with npm install sharp',
      );
    },
  );
  return sharpModule;
}

/** What the size probe learns about an image: its size after EXIF rotation, and whether it is greyscale. */
export interface ImageInfo {
  height: number;
  width: number;
  grey: boolean;
}

export async function probeImage(sharp: Sharp, path: string): Promise<ImageInfo> {
  const meta = await sharp(path).metadata();
  // Only the header is read above; decoding the pixels proves the file is not truncated or corrupt.
  await sharp(path).raw().toBuffer();
  const grey = meta.channels <= 2 || meta.space === 'b-w' || meta.space === 'grey16';
  return { height: meta.autoOrient.height, width: meta.autoOrient.width, grey };
}

/**
 * Greyscale as PIL's Image.convert('L') computes it (ITU-R 601-2 luma on the sRGB values, in PIL's
 * integer arithmetic), rather than libvips' linear-light luminance: Python pipelines (torchvision's
 * Grayscale too) use PIL's, and a teacher trained there should see the same pixels. Grey images map to
 * themselves either way.
 */
function luma(rgb: Buffer): Buffer {
  const out = Buffer.allocUnsafe(rgb.length / 3);
  for (let i = 0, j = 0; i < out.length; i++, j += 3) out[i] = (rgb[j] * 19595 + rgb[j + 1] * 38470 + rgb[j + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

/**
 * Decodes one image to height x width x channels uint8 (HWC). Resizing uses fit 'fill', which stretches
 * the whole image to the target size: no pixel is cropped away (as 'cover' would) and no padding is added
 * (as 'contain' would); the aspect ratio changes instead. EXIF orientation is applied; alpha is dropped.
 */
export async function decodeImage(sharp: Sharp, path: string, height: number, width: number, channels: 1 | 3): Promise<Buffer> {
  const { data, info } = await sharp(path, { autoOrient: true })
    .resize(width, height, { fit: 'fill' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 3 || data.length !== width * height * 3) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, not ${width}x${height}x3`);
  }
  return channels === 1 ? luma(data) : data;
}

/** One batch: `paths[i]` goes to row `rows[i]` of the [rows, height, width, channels] uint8 buffer `pixels`. */
export interface DecodeTask {
  paths: string[];
  rows: number[];
  pixels: SharedArrayBuffer;
  height: number;
  width: number;
  channels: 1 | 3;
}

/** The images of the batch that could not be decoded, by row; their rows are left untouched. */
export interface DecodeResult {
  failures: { row: number; reason: string }[];
}

export default async function decodeBatch(task: DecodeTask): Promise<DecodeResult> {
  const sharp = await loadSharp();
  const rowBytes = task.height * task.width * task.channels;
  const pixels = new Uint8Array(task.pixels);
  const failures: DecodeResult['failures'] = [];
  let next = 0;
  const lane = async () => {
    while (next < task.paths.length) {
      const i = next++;
      try {
        const data = await decodeImage(sharp, task.paths[i], task.height, task.width, task.channels);
        pixels.set(data, task.rows[i] * rowBytes);
      } catch (error) {
        failures.push({ row: task.rows[i], reason: messageOf(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, task.paths.length) }, lane));
  return { failures };
}
