import type { Queue, QueueEvents, JobsOptions } from 'bullmq';
import type { LogitTable } from '../data/logit-table.js';
import { DistillError } from '../errors.js';
import type { ProgressEvent } from '../progress.js';
import { watchJobs } from './job-watch.js';
import { type JOB_NAME, type LabelJob, type QueueAddress, type RedisClass, resultKey } from './queue-connection.js';

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

/**
 * Waits for every job, copying each one's logits into the table as it completes. Jobs that vanished
 * (Redis restarted empty, or another coordinator cleaned up) and completed jobs whose logits are gone are
 * queued again; a job that failed for good rejects, naming its rows. Connection losses are not errors
 * here: commands wait for Redis to return, and the coordinator's watch decides when to give up.
 */
export async function collect(coordination: Coordination): Promise<void> {
  const { queue, events, client, ranges, table, progress, onProgress, address } = coordination;
  const classes = table.classes;
  const requeue = async (id: string) => {
    const { name, data, opts } = coordination.jobOf(id);
    await queue.add(name, data, opts);
  };
  const onState = async (id: string, state: string) => {
    const [start, end] = ranges.get(id)!;
    if (state === 'completed') {
      const bytes = await client.getBuffer(resultKey(address.name, id));
      const expected = (end - start) * classes * 4;
      if (!bytes || bytes.byteLength !== expected) {
        // Completed, but the logits are gone (expired, deleted): label the rows again.
        await (await queue.getJob(id))?.remove();
        await requeue(id);
        return false;
      }
      table.values.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + expected)), start * classes);
      progress.done += end - start;
      const samplesPerSec = progress.done / ((performance.now() - progress.started) / 1000);
      onProgress({ phase: 'label', done: progress.done, total: progress.total, samplesPerSec });
      return true;
    }
    if (state === 'unknown') {
      // Gone (Redis restarted empty, or another coordinator of the same run finished first): queue the
      // rows again rather than wait for a job that no longer exists.
      await requeue(id);
    } else if (state === 'failed') {
      const failed = await queue.getJob(id);
      const tries = failed ? ` after ${failed.attemptsMade} attempt${failed.attemptsMade === 1 ? '' : 's'}` : '';
      throw new DistillError(`the job for rows ${start}-${end - 1} failed${tries}: ${failed?.failedReason ?? 'no reason recorded'}`);
    }
    return false;
  };
  await watchJobs({
    queue,
    events,
    pending: new Set(ranges.keys()),
    shown: address.shown,
    onState,
    onNoWorker: () => {
      const notice = `no job has finished yet: waiting for workers (tfjs-distill worker --queue ${address.shown})`;
      onProgress({ phase: 'label', done: 0, total: progress.total, samplesPerSec: 0, notice });
    },
  });
}
