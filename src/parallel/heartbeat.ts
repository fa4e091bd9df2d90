/** What crosses to a worker. */
export interface HeartbeatHandle {
  buffer: SharedArrayBuffer;
  workers: number;
}

/**
 * One progress counter per rank, in shared memory, so the coordinator can tell a slow run from a hung
 * one without asking the (possibly blocked) workers. A rank bumps its counter when it starts computing
 * a step and again when it enters the exchange; an even count means "computing", an odd one "waiting for
 * the others". When nothing moves for too long, the ranks that were computing are the ones that hung.
 */
export class RankHeartbeat {
  private readonly counts: Int32Array;

  private constructor(readonly handle: HeartbeatHandle) {
    this.counts = new Int32Array(handle.buffer);
  }

  static create(workers: number): RankHeartbeat {
    return new RankHeartbeat({ buffer: new SharedArrayBuffer(workers * 4), workers });
  }

  static attach(handle: HeartbeatHandle): RankHeartbeat {
    return new RankHeartbeat(handle);
  }

  /** Rank `rank` starts computing (even count). */
  computing(rank: number): void {
    if ((Atomics.load(this.counts, rank) & 1) === 1) Atomics.add(this.counts, rank, 1);
    else Atomics.add(this.counts, rank, 2);
  }

  /** Rank `rank` enters the exchange with the others (odd count). */
  waiting(rank: number): void {
    Atomics.add(this.counts, rank, 1);
  }

  /** A copy of every rank's counter. */
  snapshot(): Int32Array {
    return Int32Array.from({ length: this.handle.workers }, (_, rank) => Atomics.load(this.counts, rank));
  }
}

/**
 * Watches a heartbeat from the coordinator and calls `onStall` with the ranks that were computing
 * (or every rank, if none was) once no counter has moved for `timeoutMs`.
 */
export function watchHeartbeat(heartbeat: RankHeartbeat, timeoutMs: number, onStall: (ranks: number[]) => void): () => void {
  let last = heartbeat.snapshot();
  let lastMove = Date.now();
  const timer = setInterval(
    () => {
      const now = heartbeat.snapshot();
      if (now.some((count, rank) => count !== last[rank])) {
        last = now;
        lastMove = Date.now();
        return;
      }
      if (Date.now() - lastMove < timeoutMs) return;
      clearInterval(timer);
      const computing = [...now.keys()].filter((rank) => (now[rank] & 1) === 0);
      onStall(computing.length > 0 ? computing : [...now.keys()]);
    },
    Math.max(10, Math.min(1000, timeoutMs / 4)),
  );
  timer.unref();
  return () => clearInterval(timer);
}
