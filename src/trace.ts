// A timeline of a run's steps for finding where its wall time goes: with TFJS_DISTILL_TRACE=1 in the
// environment (read once, at load), each step traced writes `TRACE <epoch seconds> <event>` to stderr as it
// begins and ends (bench/sweep-trace.mjs prints a sweep's as a timeline). Off, a trace costs one test.
const tracing = process.env.TFJS_DISTILL_TRACE === '1';

/** Writes one trace line, when tracing is on. */
export function trace(event: string): void {
  if (tracing) process.stderr.write(`TRACE ${((performance.timeOrigin + performance.now()) / 1000).toFixed(3)} ${event}\n`);
}

/** Runs `work` between the trace lines `<event> begin` and `<event> end` (the end also when it fails). */
export async function traced<T>(event: string, work: () => Promise<T>): Promise<T> {
  if (!tracing) return work();
  trace(`${event} begin`);
  try {
    return await work();
  } finally {
    trace(`${event} end`);
  }
}
