/**
 * Warm-up before a timing. A fresh thread's first calls keep getting faster for a while (JIT tiers, caches,
 * the allocator), so a fixed count of untimed calls leaves a small model's figure measuring how warm the
 * thread is rather than the model: two runs of the same model would report different latencies.
 */

/** How long to warm up, in the calls' own milliseconds: windows of calls, and when to stop waiting for them to settle. */
export interface WarmUpOptions {
  /** Each window holds at least this many milliseconds of calls, and at least `minCalls` calls. */
  windowMs?: number;
  minCalls?: number;
  /** Stop when a window's median is no more than this fraction below the best earlier window's. */
  tolerance?: number;
  /** Stop after this many milliseconds of calls whatever the windows say. */
  budgetMs?: number;
}

const WARM_UP_DEFAULTS: Required<WarmUpOptions> = { windowMs: 50, minCalls: 3, tolerance: 0.05, budgetMs: 1000 };

/** The median of `values` (the mean of the middle two when their count is even). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Runs `timedCall` (which returns the milliseconds of what it timed) in windows until the median time per
 * call stops falling, or the budget is spent. Windows and budget count the calls' own times, so what the
 * caller leaves untimed (making inputs) does not shorten them.
 */
export async function warmUntilSteady(timedCall: () => number | Promise<number>, options: WarmUpOptions = {}): Promise<void> {
  const { windowMs, minCalls, tolerance, budgetMs } = { ...WARM_UP_DEFAULTS, ...options };
  let spent = 0;
  let best = Number.POSITIVE_INFINITY;
  while (spent < budgetMs) {
    const times: number[] = [];
    let windowSpent = 0;
    while (times.length < minCalls || windowSpent < windowMs) {
      const ms = await timedCall();
      times.push(ms);
      windowSpent += ms;
    }
    spent += windowSpent;
    const windowMedian = median(times);
    if (windowMedian >= best * (1 - tolerance)) return;
    best = windowMedian;
  }
}
