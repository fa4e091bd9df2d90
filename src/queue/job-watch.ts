// Waiting on a set of queued jobs, shared by the label coordinator (row ranges into a logit table) and the job
// set (a sweep's trials): each job is looked at when BullMQ says it completed or failed, and every job still
// pending is looked at again on a timer, in case an event was missed or Redis lost the job.
import type { Queue, QueueEvents } from 'bullmq';
import { DistillError, messageOf } from '../errors.js';
import { isConnectionError } from './connection-watch.js';
import { redactUrl } from './queue-connection.js';

/** How often every unfinished job is looked at, in case an event was missed (or Redis lost the job). */
const POLL_MS = 2000;
/** With no job finished after this long, the waiter says that it waits for workers. */
const NO_WORKER_NOTICE_MS = 15_000;
/** Jobs looked at or cleaned up at once: round trips overlap, without flooding Redis with one burst per job. */
const BATCH = 64;

/** Runs `use` on every item, a batch of them at a time. */
export async function forEachBatch<T>(items: T[], use: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map(use));
}

/** What {@link watchJobs} waits on, and what it does with each job's state. */
export interface JobWatch {
  queue: Queue;
  events: QueueEvents;
  /** The ids still to finish; a job leaves it when `onState` says it is done. */
  pending: Set<string>;
  /** The queue as logs show it (no password), for the error of a command that failed. */
  shown: string;
  /**
   * A job's state (BullMQ's, e.g. completed, failed, unknown, waiting): resolves true when the job is done
   * with. Throwing a DistillError stops the wait with it.
   */
  onState: (id: string, state: string) => Promise<boolean>;
  /** Called once when no job has finished some seconds after the wait began: no worker may be running. */
  onNoWorker: () => void;
}

/**
 * Resolves when every pending job is done with, or rejects with the first DistillError. Connection losses are
 * not errors here: commands wait for Redis to return, and the caller's connection watch decides when to give up.
 */
export async function watchJobs(watch: JobWatch): Promise<void> {
  const { queue, events, pending } = watch;
  let fail!: (error: unknown) => void;
  let finish!: () => void;
  const finished = new Promise<void>((resolveAll, reject) => {
    finish = resolveAll;
    fail = reject;
  });
  const checking = new Set<string>();
  const look = async (id: string) => {
    if (!pending.has(id) || checking.has(id)) return;
    checking.add(id);
    try {
      if (await watch.onState(id, await queue.getJobState(id))) {
        pending.delete(id);
        if (pending.size === 0) finish();
      }
    } catch (error) {
      if (error instanceof DistillError) fail(error);
      // A command that failed as the connection dropped: the next poll looks again.
      else if (!isConnectionError(error)) fail(new DistillError(`the queue at ${watch.shown} failed: ${redactUrl(messageOf(error))}`));
    } finally {
      checking.delete(id);
    }
  };
  const onEvent = ({ jobId }: { jobId: string }) => void look(jobId);
  events.on('completed', onEvent);
  events.on('failed', onEvent);
  const poll = () => forEachBatch([...pending], look);
  const timer = setInterval(() => void poll(), POLL_MS);
  const total = pending.size;
  const waiting = setTimeout(() => {
    if (pending.size === total) watch.onNoWorker();
  }, NO_WORKER_NOTICE_MS);
  try {
    await poll();
    if (pending.size === 0) finish();
    await finished;
  } finally {
    clearInterval(timer);
    clearTimeout(waiting);
    events.off('completed', onEvent);
    events.off('failed', onEvent);
  }
}
