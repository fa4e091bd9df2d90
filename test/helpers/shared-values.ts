import { mulberry32 } from '../../dist/random.js';

/** `values` as float32 in a SharedArrayBuffer of their own, as the exchange's slots and weights are. */
export function shared(values: ArrayLike<number>): Float32Array {
  const array = new Float32Array(new SharedArrayBuffer(values.length * 4));
  array.set(values);
  return array;
}

/** `length` seeded values uniform in [-scale, scale). */
export function randomValues(length: number, seed: number, scale = 1): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length }, () => (random() * 2 - 1) * scale);
}
