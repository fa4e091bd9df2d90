import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../dist/data/dataset.js';
import { distill } from '../dist/distill/distill.js';
import { buildModel } from '../dist/models/architectures.js';
import { modelToData } from '../dist/models/model-data.js';
import { augmentRows, transformImage } from '../dist/train/augment.js';
import { digitRows } from './helpers/digits.js';

describe('image augmentation', () => {
  it('shifts with a zero border and flips horizontally, channel by channel', () => {
    // A 3x4 image with 2 channels: value = 10 * (y * 4 + x) + channel.
    const shape = [3, 4, 2];
    const image = Float32Array.from({ length: 24 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));
    const at = (img: Float32Array, y: number, x: number, c: number) => img[(y * 4 + x) * 2 + c];
    const out = new Float32Array(24);
    transformImage(image, out, shape, 1, -1, false); // down one row, left one column
    expect(at(out, 0, 0, 0)).toBe(0); // the uncovered top row
    expect(at(out, 1, 0, 1)).toBe(at(image, 0, 1, 1));
    expect(at(out, 2, 2, 0)).toBe(at(image, 1, 3, 0));
    expect(at(out, 1, 3, 0)).toBe(0); // the uncovered right column
    transformImage(image, out, shape, 0, 0, true);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) expect(at(out, y, x, 1)).toBe(at(image, y, 3 - x, 1));
    const twice = new Float32Array(24);
    transformImage(out, twice, shape, 0, 0, true);
    expect(twice).toEqual(image);
  });

  it("draws each row's shift and flip from the seed, step and row index alone, whatever slice it is in", () => {
    const shape = [5, 5];
    const rows = Int32Array.from([7, 3, 11, 42]);
    const base = Float32Array.from({ length: 4 * 25 }, (_, i) => (i % 25) + 1);
    const whole = base.slice();
    augmentRows(whole, rows, 0, 4, shape, { shift: 2, flip: true }, 9, 5);
    // The same rows augmented as two slices (as two workers would): the same result.
    const first = base.slice(0, 50);
    const second = base.slice(50);
    augmentRows(first, rows, 0, 2, shape, { shift: 2, flip: true }, 9, 5);
    augmentRows(second, rows, 2, 4, shape, { shift: 2, flip: true }, 9, 5);
    expect(Float32Array.from([...first, ...second])).toEqual(whole);
    expect(whole).not.toEqual(base); // something moved
    const later = base.slice();
    augmentRows(later, rows, 0, 4, shape, { shift: 2, flip: true }, 9, 6);
    expect(later).not.toEqual(whole); // another step, other draws
  });

  describe('in training', () => {
    let train: Dataset;
    let test: Dataset;
    beforeAll(async () => {
      ({ train, test } = await digitRows(480, 100));
    });
    const run = async (workers: number, augment: { shift?: number; flip?: boolean } | null) => {
      const result = await distill({
        teacher: buildModel('mlp:16', { inputShape: [28, 28], numClasses: 10, seed: 3 }),
        student: buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10, seed: 4 }),
        train,
        test,
        augment,
        epochs: 2,
        teacherEpochs: 1,
        batchSize: 48,
        workers,
        allowWeakTeacher: true, // one short epoch of teacher training: the augmentation is on trial here
      });
      return new Float32Array((await modelToData(result.student)).weights);
    };

    it('W=1 and W=3 train the same student with augmentation, and it differs from training without', async () => {
      const one = await run(1, { shift: 2, flip: true });
      const three = await run(3, { shift: 2, flip: true });
      expect(one.reduce((m, v, i) => Math.max(m, Math.abs(v - three[i])), 0)).toBeLessThanOrEqual(1e-4);
      const plain = await run(1, null);
      expect(one.reduce((m, v, i) => Math.max(m, Math.abs(v - plain[i])), 0)).toBeGreaterThan(1e-3);
    });

    it('refuses augmentation of rows that are not images', async () => {
      const flat: Dataset = { ...train, shape: [480, 784] };
      await expect(
        distill({
          teacher: buildModel('mlp:16', { inputShape: [784], numClasses: 10, seed: 3 }),
          student: buildModel('mlp:8', { inputShape: [784], numClasses: 10, seed: 4 }),
          train: flat,
          test: { ...test, shape: [100, 784] },
          augment: { shift: 2 },
          workers: 1,
        }),
      ).rejects.toThrow(/^augment shifts and flips images, but the rows have shape \[784\]; drop augment for feature rows$/);
    });
  });
});
