// The Pareto front of a sweep's models: the ones worth shipping when accuracy is wanted high and size (or
// latency) low.

/** A model as the front sees it: what it costs and how accurate it is. */
export interface ParetoPoint {
  /** Bytes, milliseconds or any cost where less is better. */
  size: number;
  /** Accuracy, or any score where more is better. */
  accuracy: number;
}

/**
 * The indices of the points on the Pareto front of high accuracy and low size, ordered by size (then by
 * index). A point is on the front when no other point is at least as small and strictly more accurate, or
 * as accurate and strictly smaller; so equal points are all on it or all off it. Points with a non-finite
 * size or accuracy are never on it (nothing can be said of where they lie). Along the front, accuracy rises
 * with size.
 */
export function paretoFront(points: readonly ParetoPoint[]): number[] {
  const finite = points.flatMap((p, index) => (Number.isFinite(p.size) && Number.isFinite(p.accuracy) ? [{ ...p, index }] : []));
  // By size, and among equal sizes the most accurate first: each point then need only beat the best
  // accuracy of those before it, bar the ones that tie it on both counts.
  finite.sort((a, b) => a.size - b.size || b.accuracy - a.accuracy || a.index - b.index);
  const front: number[] = [];
  let best = -Infinity;
  let last: { size: number; accuracy: number } | undefined;
  for (const p of finite) {
    const duplicate = last !== undefined && p.size === last.size && p.accuracy === last.accuracy;
    if (p.accuracy > best || duplicate) {
      front.push(p.index);
      best = Math.max(best, p.accuracy);
      last = p;
    }
  }
  return front;
}
