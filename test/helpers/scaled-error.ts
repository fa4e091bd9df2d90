import { expect } from 'vitest';

/** max |a - b| / (max |b| + tiny): an error relative to the values' scale (b's); a and b must be as long. */
export function scaledError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / (scale + 1e-30);
}
