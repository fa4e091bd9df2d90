import { describe, expect, it } from 'vitest';
import { type ParetoPoint, paretoFront } from '../dist/index.js';

/** The definition, point by point: on the front unless another is as small and more accurate, or as accurate and smaller. */
function onFrontByDefinition(points: ParetoPoint[]): number[] {
  const finite = (p: ParetoPoint) => Number.isFinite(p.size) && Number.isFinite(p.accuracy);
  return points
    .map((p, i) => ({ p, i }))
    .filter(
      ({ p, i }) =>
        finite(p) &&
        !points.some(
          (q, j) =>
            j !== i && finite(q) && ((q.size <= p.size && q.accuracy > p.accuracy) || (q.accuracy === p.accuracy && q.size < p.size)),
        ),
    )
    .map(({ i }) => i);
}

const points = (pairs: [number, number][]): ParetoPoint[] => pairs.map(([size, accuracy]) => ({ size, accuracy }));

describe('paretoFront', () => {
  it('is empty for no points and holds a single point', () => {
    expect(paretoFront([])).toEqual([]);
    expect(paretoFront(points([[50_920, 0.86]]))).toEqual([0]);
  });

  it('orders the front by size, accuracy rising along it, and leaves dominated points off', () => {
    // 0 and 3 are dominated: 1 is smaller and more accurate than 0; 2 is as small as 3 and more accurate.
    const sweep = points([
      [407_080, 0.87],
      [101_800, 0.88],
      [50_920, 0.85],
      [50_920, 0.84],
      [1_600_000, 0.9],
    ]);
    expect(paretoFront(sweep)).toEqual([2, 1, 4]);
  });

  it('keeps only the smaller of equally accurate points, and only the more accurate of equally small ones', () => {
    expect(
      paretoFront(
        points([
          [200, 0.9],
          [100, 0.9],
        ]),
      ),
    ).toEqual([1]);
    expect(
      paretoFront(
        points([
          [100, 0.8],
          [100, 0.9],
        ]),
      ),
    ).toEqual([1]);
  });

  it('keeps every copy of a duplicate on the front, in index order, and drops every copy of a dominated one', () => {
    const sweep = points([
      [300, 0.95],
      [100, 0.9],
      [200, 0.85],
      [100, 0.9],
      [200, 0.85],
      [100, 0.9],
    ]);
    expect(paretoFront(sweep)).toEqual([1, 3, 5, 0]);
  });

  it('leaves out points with a non-finite size or accuracy', () => {
    const sweep = points([
      [Number.NaN, 0.99],
      [100, Number.NaN],
      [Number.POSITIVE_INFINITY, 1],
      [0, Number.NEGATIVE_INFINITY],
      [200, 0.8],
    ]);
    expect(paretoFront(sweep)).toEqual([4]);
  });

  it('agrees with the definition on many small grids full of ties', () => {
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      const sweep = points(Array.from({ length: 1 + next(14) }, () => [1 + next(5), next(5) / 4] as [number, number]));
      const front = paretoFront(sweep);
      expect(
        [...front].sort((a, b) => a - b),
        JSON.stringify(sweep),
      ).toEqual(onFrontByDefinition(sweep));
      // Along the front, size never falls and accuracy rises with size.
      for (let i = 1; i < front.length; i++) {
        const [a, b] = [sweep[front[i - 1]], sweep[front[i]]];
        expect(b.size >= a.size && (b.size === a.size ? b.accuracy === a.accuracy : b.accuracy > a.accuracy)).toBe(true);
      }
    }
  });
});
