// A sweep's trials on a BullMQ queue: the coordinator queues a job per trial carrying everything a worker
// needs to run it exactly as the local sweep would (the sweep's options, the data by path, the store's path,
// the trial's plan), and keeps each trial as its folder appears on the shared output path.
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { DataSourceOptions } from '../data/data-source.js';
import { DistillError, check } from '../errors.js';
import type { DistillOptions } from '../options/options.js';
import { absoluteOptionPaths } from '../options/option-paths.js';
import { DEFAULT_QUEUE_TIMEOUT_SECONDS } from '../options/groups/runtime.js';
import { runJobSet } from '../queue/job-set.js';
import { absoluteData } from '../queue/queue.js';
import {
  JOB_PROTOCOL,
  type QueueDataSource,
  TRIAL_JOB_NAME,
  closeClient,
  connectQueue,
  loadQueueModules,
  parseQueueUrl,
} from '../queue/queue-connection.js';
import type { SweepReport, SweepTrial } from './sweep-report.js';
import { type TrialSources, sweepDataDigest } from './trial-context.js';
import { type TrialContext, type TrialPlan, type TrialRecord, finishedTrial } from './trial.js';

/** Where and how a sweep's trials run as queue jobs. */
export interface SweepQueueOptions {
  /** The queue: redis[s]://[USER:PASSWORD@]HOST:PORT/NAME, the one `tfjs-distill worker --queue` serves. */
  url: string;
  /** The data by name (as `label --queue` takes it): every worker loads it from the same paths and checks its hash. */
  data: DataSourceOptions;
  /** How often a trial may fail (its worker throws, or dies and its lock runs out) before the sweep stops. Default 3. */
  attempts?: number;
  /** Seconds without Redis before the sweep stops with an error; 0 waits for ever. Default 600. */
  queueTimeoutSeconds?: number;
  /** One line per queue event worth a log line: Redis lost and back, no worker yet. */
  onLog?: (line: string) => void;
}

/** The sweep's options as a job carries them: no data in memory, no callbacks, every path absolute. */
export type TrialJobOptions = Omit<DistillOptions, 'student' | 'train' | 'test' | 'teacherView' | 'onProgress' | 'signal'>;

/** A trial job: everything a worker needs to run the trial as the local sweep does, and write its folder. */
export interface TrialJob {
  protocol: number;
  trial: number;
  plan: TrialPlan;
  /** The workers the trial trains on: 1, as a concurrent local sweep's trials. */
  workers: number;
  data: QueueDataSource;
  /** The hash of the training and test rows the coordinator loaded. */
  dataKey: string;
  options: TrialJobOptions;
  /** The student of trials whose settings name none: an architecture or a model path. */
  student: string | undefined;
  /** The soft-label store every trial reads (null with imported logits). */
  storeFile: string | null;
  /** The sweep's output folder, where the trial's folder goes. */
  out: string;
  extras: TrialSources['extras'];
}

/** What a worker's trial job returns. */
export interface TrialJobResult {
  host: string;
}

/** The workers each queued trial trains on: one, as a concurrent local sweep's trials, so that both train alike. */
const QUEUED_TRIAL_WORKERS = 1;

/**
 * The sweep's options with every path absolute (see absoluteOptionPaths), for workers started in other folders;
 * models in memory cannot travel to another machine and are refused, naming the option.
 */
export function queuePaths<T extends Omit<Partial<DistillOptions>, 'student'> & { student?: tf.LayersModel | string; out: string }>(
  options: T,
): T {
  const { teacher, student } = options;
  const teachers = teacher === undefined ? [] : [teacher].flat();
  check(
    teachers.every((member) => typeof member === 'string'),
    'a queue sweep needs the teacher as a path (model.json, its folder or .onnx) that every worker reads',
    ['teacher'],
  );
  check(
    student === undefined || typeof student === 'string',
    'a queue sweep needs the student as an architecture (mlp:32) or a model path, which every worker builds or reads',
    ['student'],
  );
  return absoluteOptionPaths(options, process.cwd()) as T;
}

/** How a sweep's trials run on the queue: the schedule it reports, and the run. */
export interface QueuedTrials {
  schedule: SweepReport['schedule'];
  /** Connects once and closes: an unreachable queue is an error before the teacher labels, not after. */
  reachable: () => Promise<void>;
  run: (
    pending: TrialPlan[],
    context: TrialContext,
    progress: {
      finished: Map<number, TrialRecord>;
      total: number;
      onTrial?: (trial: SweepTrial, finished: number, total: number, resumed: boolean) => void;
    },
  ) => Promise<void>;
}

/** Checks the queue settings (before anything is labelled) and prepares the trials' jobs. */
export function queueTrials(sources: TrialSources & { queue: SweepQueueOptions }): QueuedTrials {
  const { queue, base, student, storeFile, out, extras } = sources;
  const address = parseQueueUrl(queue.url);
  const attempts = queue.attempts ?? 3;
  check(Number.isInteger(attempts) && attempts >= 1, `attempts must be an integer >= 1, got ${attempts}`, ['attempts']);
  const { train, test, teacherView, onProgress, signal, ...options } = base;
  const template: Omit<TrialJob, 'trial' | 'plan'> = {
    protocol: JOB_PROTOCOL,
    workers: QUEUED_TRIAL_WORKERS,
    data: absoluteData(queue.data),
    dataKey: sweepDataDigest(base),
    options: JSON.parse(JSON.stringify(options)) as TrialJobOptions,
    student: student as string | undefined,
    storeFile,
    out,
    // The tokenizer files a text student's folder copies: the worker copies them from the same paths.
    extras: { ...extras, contractFiles: extras.contractFiles?.map((file) => ({ ...file, path: resolve(file.path) })) },
  };
  const schedule: SweepReport['schedule'] = {
    mode: 'queue',
    workers: QUEUED_TRIAL_WORKERS,
    reason: `a job per trial on ${address.shown}, each trained on ${QUEUED_TRIAL_WORKERS} worker (as a concurrent sweep's trials) by whichever tfjs-distill worker takes it`,
  };
  return {
    schedule,
    reachable: async () => {
      const { Redis } = await loadQueueModules();
      await closeClient(await connectQueue(Redis, address));
    },
    run: async (pending, context, { finished, total, onTrial }) => {
      const jobs = pending.map((plan) => {
        const data: TrialJob = { ...template, trial: plan.index, plan };
        // The same trial of the same sweep gets the same id: a restarted coordinator finds its job.
        const hash = createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 16);
        return { id: `trial-${plan.index}-${hash}`, name: TRIAL_JOB_NAME, data };
      });
      await runJobSet<TrialJob>({
        queue: queue.url,
        jobs,
        attempts,
        queueTimeoutSeconds: queue.queueTimeoutSeconds ?? DEFAULT_QUEUE_TIMEOUT_SECONDS,
        say: queue.onLog ?? (() => {}),
        signal,
        failure: (job, reason, tries) =>
          new DistillError(`trial ${job.data.trial} failed on the queue after ${tries} attempt${tries === 1 ? '' : 's'}: ${reason}`),
        onCompleted: async (job, value) => {
          const record = await finishedTrial(job.data.plan, context);
          const host = (value as TrialJobResult | null)?.host ?? 'a worker';
          check(
            record !== undefined,
            `trial ${job.data.trial} finished on ${host}, but ${join(out, job.data.plan.folder, 'trial.json')} is not here (or is another ` +
              "trial's): give the sweep an out folder that the coordinator and every worker reach at the same path",
          );
          finished.set(job.data.trial, record!);
          onTrial?.(record!.trial, finished.size, total, false);
        },
      });
    },
  };
}
