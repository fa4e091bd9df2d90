import { mixSeed, mulberry32 } from '../random.js';

/**
 * Image augmentation of training rows: a random shift of up to `shift` pixels each way (the uncovered
 * border filled with 0) and, with `flip`, a horizontal flip half the time. Each row's draw depends on the
 * run's seed, the step and the row's index alone, so any worker count augments every row alike.
 */
export interface Augmentation {
  shift: number;
  flip: boolean;
}

/** Moves one [height, width, channels] image by (dy, dx) pixels, mirrored first when `flip`, into `out`. */
export function transformImage(
  row: Float32Array,
  out: Float32Array,
  shape: readonly number[],
  dy: number,
  dx: number,
  flip: boolean,
): void {
  const [height, width, channels = 1] = shape;
  out.fill(0);
  for (let y = 0; y < height; y++) {
    const sourceY = y - dy;
    if (sourceY < 0 || sourceY >= height) continue;
    for (let x = 0; x < width; x++) {
      let sourceX = x - dx;
      if (sourceX < 0 || sourceX >= width) continue;
      if (flip) sourceX = width - 1 - sourceX;
      const to = (y * width + x) * channels;
      const from = (sourceY * width + sourceX) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = row[from + c];
    }
  }
}

/**
 * Augments rows [start, end) of a batch in place in `features` (the gathered rows, one after another):
 * `rows` holds their indices in the data, which with the seed and step pick each row's shift and flip.
 */
export function augmentRows(
  features: Float32Array,
  rows: Int32Array,
  start: number,
  end: number,
  shape: readonly number[],
  augmentation: Augmentation,
  seed: number,
  step: number,
): void {
  const size = shape.reduce((a, b) => a * b, 1);
  const scratch = new Float32Array(size);
  for (let i = start; i < end; i++) {
    const random = mulberry32(mixSeed(seed, step, rows[i]));
    const dy = Math.floor(random() * (2 * augmentation.shift + 1)) - augmentation.shift;
    const dx = Math.floor(random() * (2 * augmentation.shift + 1)) - augmentation.shift;
    const flip = augmentation.flip && random() < 0.5;
    const row = features.subarray((i - start) * size, (i - start + 1) * size);
    transformImage(row, scratch, shape, dy, dx, flip);
    row.set(scratch);
  }
}
