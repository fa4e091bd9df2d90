// Temporary: timestamps of a sweep's steps on stderr when TFJS_DISTILL_TRACE=1.
const on = process.env.TFJS_DISTILL_TRACE === '1';
export function trace(event: string): void {
  if (on) process.stderr.write(`TRACE ${((performance.timeOrigin + performance.now()) / 1000).toFixed(3)} ${event}\n`);
}
export async function traced<T>(event: string, work: () => Promise<T>): Promise<T> {
  trace(`${event} begin`);
  try {
    return await work();
  } finally {
    trace(`${event} end`);
  }
}
