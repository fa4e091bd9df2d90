import type { Queue, QueueEvents, JobsOptions } from 'bullmq';
import type { LogitTable } from '../data/logit-table.js';
import { DistillError, messageOf } from '../errors.js';
import { isConnectionError } from './connection-watch.js';
import type { ProgressEvent } from '../progress.js';
import { type JOB_NAME, type LabelJob, type QueueAddress, type RedisClass, redactUrl, resultKey } from './queue-connection.js';

/** A job's rows, [start, end). */
export type JobRange = [number, number];

/** A coordinator's run: its connections, its jobs by id, the table their logits go to, and its progress. */
export interface Coordination {
  address: QueueAddress;
  queue: Queue<LabelJob>;
  events: QueueEvents;
  client: InstanceType<RedisClass>;
  ranges: Map<string, JobRange>;
  table: LogitTable;
  progress: { done: number; total: number; started: number };
  onProgress: (event: ProgressEvent) => void;
  /** The job (name, data, options) to queue for an id. */
  jobOf: (id: string) => { name: typeof JOB_NAME; data: LabelJob; opts: JobsOptions };
}

/** How often the coordinator looks at every unfinished job, in case it missed an event (or Redis lost them). */
const SWEEP_MS = 2000;
/** With no job finished after this long, the coordinator says that it waits for workers. */
const NO_WORKER_NOTICE_MS = 15_000;

/**
 * Waits for every job, copying each one's logits into the table as it completes. Jobs that vanished
 * (Redis restarted empty, or another coordinator cleaned up) and completed jobs whose logits are gone are
 * queued again; a job that failed for good rejects, naming its rows. Connection losses are not errors
 * here: commands wait for Redis to return, and the coordinator's watch decides when to give up.
 */
export async function collect(coordination: Coordination): Promise<void> {
  const { queue, events, client, ranges, table, progress, onProgress, address } = coordination;
  const classes = table.classes;
  const pending = new Set(ranges.keys());
  let fail!: (error: unknown) => void;
  let finish!: () => void;
  const finished = new Promise<void>((resolveAll, reject) => {
    finish = resolveAll;
    fail = reject;
  });
  const requeue = async (id: string) => {
    const { name, data, opts } = coordination.jobOf(id);
    await queue.add(name, data, opts);
  };
  const checking = new Set<string>();
  const settle = async (id: string) => {
    if (!pending.has(id) || checking.has(id)) return;
    checking.add(id);
    try {
      const state = await queue.getJobState(id);
      const [start, end] = ranges.get(id)!;
      if (state === 'completed') {
        const bytes = await client.getBuffer(resultKey(address.name, id));
        const expected = (end - start) * classes * 4;
        if (!bytes || bytes.byteLength !== expected) {
          // Completed, but the logits are gone (expired, deleted): label the rows again.
          await (await queue.getJob(id))?.remove();
          await requeue(id);
          return;
        }
        table.values.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + expected)), start * classes);
        pending.delete(id);
        progress.done += end - start;
        const samplesPerSec = progress.done / ((performance.now() - progress.started) / 1000);
        onProgress({ phase: 'label', done: progress.done, total: progress.total, samplesPerSec });
        if (pending.size === 0) finish();
      } else if (state === 'unknown') {
        // Gone (Redis restarted empty, or another coordinator of the same run finished first): queue the
        // rows again rather than wait for a job that no longer exists.
        await requeue(id);
      } else if (state === 'failed') {
        const failed = await queue.getJob(id);
        const tries = failed ? ` after ${failed.attemptsMade} attempt${failed.attemptsMade === 1 ? '' : 's'}` : '';
        fail(new DistillError(`the job for rows ${start}-${end - 1} failed${tries}: ${failed?.failedReason ?? 'no reason recorded'}`));
      }
    } catch (error) {
      // A command that failed as the connection dropped: the next sweep looks again.
      if (!isConnectionError(error)) fail(new DistillError(`the queue at ${address.shown} failed: ${redactUrl(messageOf(error))}`));
    } finally {
      checking.delete(id);
    }
  };
  const onEvent = ({ jobId }: { jobId: string }) => void settle(jobId);
  events.on('completed', onEvent);
  events.on('failed', onEvent);
  const sweep = () => forEachBatch([...pending], settle);
  const timer = setInterval(() => void sweep(), SWEEP_MS);
  const waiting = setTimeout(() => {
    if (progress.done > 0) return;
    const notice = `no job has finished yet: waiting for workers (tfjs-distill worker --queue ${address.shown})`;
    onProgress({ phase: 'label', done: 0, total: progress.total, samplesPerSec: 0, notice });
  }, NO_WORKER_NOTICE_MS);
  try {
    await sweep();
    if (pending.size === 0) finish();
    await finished;
  } finally {
    clearInterval(timer);
    clearTimeout(waiting);
    events.off('completed', onEvent);
    events.off('failed', onEvent);
  }
}

/** Jobs looked at or cleaned up at once: round trips overlap, without flooding Redis with one burst per job. */
const BATCH = 64;

export async function forEachBatch<T>(items: T[], use: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map(use));
}
