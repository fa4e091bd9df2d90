// A coordinator for a set of whole jobs whose results live elsewhere (a sweep's trials write their folders
// on a shared path): queue them under ids a restarted coordinator finds again, wait for each to complete or
// fail for good, and stop within seconds on a signal or when Redis stays unreachable.
import { DistillCancelledError, type DistillError } from '../errors.js';
import { settlesWithin, watchConnection } from './connection-watch.js';
import { forEachBatch, watchJobs } from './job-watch.js';
import { closeClient, connectQueue, loadQueueModules, parseQueueUrl } from './queue-connection.js';

/** One job of a set: its id (the same for the same work, so that a restarted coordinator finds it), name and data. */
export interface QueuedJob<T> {
  id: string;
  name: string;
  data: T;
}

/** What {@link runJobSet} takes. */
export interface JobSetOptions<T> {
  /** The queue: redis[s]://[USER:PASSWORD@]HOST:PORT/NAME (see parseQueueUrl). */
  queue: string;
  jobs: QueuedJob<T>[];
  /** How often a job may fail (its worker throws, or dies and its lock runs out) before the set stops. */
  attempts: number;
  /** Seconds without Redis before the set stops with an error; 0 waits for ever. */
  queueTimeoutSeconds: number;
  /** A job completed, with its BullMQ return value; throwing stops the set with that error. */
  onCompleted: (job: QueuedJob<T>, returnValue: unknown) => Promise<void>;
  /** The error a job that failed for good stops the set with. */
  failure: (job: QueuedJob<T>, reason: string, attempts: number) => DistillError;
  /** One line for the log: Redis lost and back, no worker yet. */
  say: (line: string) => void;
  /** Aborting it stops within a few seconds. */
  signal?: AbortSignal;
}

/** How long each connection may take to close before it is dropped (Redis may be gone). */
const CLOSE_MS = 1500;

/**
 * Queues every job and waits until each has completed (and `onCompleted` took it), or one failed for good.
 * Jobs an earlier coordinator queued and workers still hold are waited for, not queued twice; finished ones
 * from before are queued afresh (their results may be gone). When the set stops early, the jobs no worker
 * has taken yet are removed; those running finish on their workers.
 */
export async function runJobSet<T>(options: JobSetOptions<T>): Promise<void> {
  const address = parseQueueUrl(options.queue);
  const modules = await loadQueueModules();
  const client = await connectQueue(modules.Redis, address);
  const queue = new modules.bullmq.Queue(address.name, { connection: address.connection });
  const events = new modules.bullmq.QueueEvents(address.name, { connection: address.connection });
  // Connection losses are reported once by the watch below, not once per retry by each connection.
  queue.on('error', () => {});
  events.on('error', () => {});
  let halt!: (error: DistillError) => void;
  const halted = new Promise<never>((_, reject) => (halt = reject));
  halted.catch(() => {});
  const watch = watchConnection(client, {
    shown: address.shown,
    timeoutSeconds: options.queueTimeoutSeconds,
    say: options.say,
    onGiveUp: halt,
  });
  const onAbort = () =>
    halt(new DistillCancelledError('stopped while the workers ran the jobs; those no worker had taken were taken off the queue'));
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) onAbort();
  const pending = new Set(options.jobs.map((job) => job.id));
  try {
    const work = waitForJobs(options, { queue, events, pending, shown: address.shown });
    work.catch(() => {});
    await Promise.race([work, halted]);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    const redisLost = watch.lostSince !== null;
    watch.stop();
    // The set stopped early: jobs no worker took would run for no one.
    if (!redisLost && pending.size > 0) {
      await settlesWithin(
        forEachBatch([...pending], async (id) => {
          const job = await queue.getJob(id);
          const state = job && (await job.getState());
          if (state === 'waiting' || state === 'delayed' || state === 'failed') await job!.remove();
        }),
        CLOSE_MS,
      );
    }
    const closeMs = redisLost ? 0 : CLOSE_MS;
    const closing = async (connection: { close(): Promise<void>; disconnect(): Promise<void> }) => {
      if (closeMs === 0 || !(await settlesWithin(connection.close(), closeMs))) await settlesWithin(connection.disconnect(), 500);
    };
    await Promise.all([closing(queue), closing(events), closeClient(client)]);
  }
}

type BullQueue = import('bullmq').Queue;
type BullEvents = import('bullmq').QueueEvents;

/** Queues the jobs and settles each as it completes or fails; resolves when none is pending. */
async function waitForJobs<T>(
  options: JobSetOptions<T>,
  run: { queue: BullQueue; events: BullEvents; pending: Set<string>; shown: string },
): Promise<void> {
  const { queue, events, pending } = run;
  const byId = new Map(options.jobs.map((job) => [job.id, job]));
  const add = (job: QueuedJob<T>) =>
    queue.add(job.name, job.data, { jobId: job.id, attempts: options.attempts, backoff: { type: 'fixed', delay: 1000 } });
  await events.waitUntilReady();
  // Finished jobs from an earlier coordinator may name results that are gone: they run again.
  await forEachBatch(options.jobs, async (job) => {
    const existing = await queue.getJob(job.id);
    const state = existing && (await existing.getState());
    if (state === 'completed' || state === 'failed') await existing!.remove();
  });
  await forEachBatch(options.jobs, add);

  await watchJobs({
    queue,
    events,
    pending,
    shown: run.shown,
    onState: async (id, state) => {
      const job = byId.get(id)!;
      if (state === 'completed') {
        const done = await queue.getJob(id);
        await options.onCompleted(job, done?.returnvalue);
        await done?.remove();
        return true;
      }
      if (state === 'failed') {
        const failed = await queue.getJob(id);
        throw options.failure(job, failed?.failedReason ?? 'no reason recorded', failed?.attemptsMade ?? 0);
      }
      if (state === 'unknown') await add(job); // gone (Redis restarted empty): queue it again rather than wait for nothing
      return false;
    },
    onNoWorker: () => options.say(`no job has finished yet: waiting for workers (tfjs-distill worker --queue ${run.shown})`),
  });
}
