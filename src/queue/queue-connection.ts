import { DistillError, check, messageOf } from '../errors.js';
import type { DataSourceOptions } from '../data/data-source.js';
import type { TeacherSettings } from '../teachers/open-teacher.js';
import { settlesWithin } from './connection-watch.js';

/**
 * A labelling queue's address: `redis://[USER:PASSWORD@]HOST:PORT/NAME` (or `rediss://` for TLS, or
 * `.../DB/NAME` for another Redis database). NAME is the BullMQ queue. The password may also come from
 * TFJS_DISTILL_QUEUE_PASSWORD, which keeps it off command lines (and out of `ps`).
 */
export interface QueueAddress {
  name: string;
  /** ioredis options, secrets included: never print them. */
  connection: {
    host: string;
    port: number;
    username?: string;
    password?: string;
    db: number;
    tls?: { servername: string };
    maxRetriesPerRequest: null;
  };
  /** The address as it may be shown: the password replaced by ***. */
  shown: string;
}

/** The environment variable a queue password may come from instead of the URL. */
export const PASSWORD_VARIABLE = 'TFJS_DISTILL_QUEUE_PASSWORD';

/** The text with any password in a URL's user info replaced by ***. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^/@:]*):[^/@]*@/, '$1:***@');
}

/** Parses a queue URL (see {@link QueueAddress}); errors name the `queue` option and never show a password. */
export function parseQueueUrl(text: string, env: NodeJS.ProcessEnv = process.env): QueueAddress {
  const example = 'give redis://HOST:PORT/NAME or rediss://USER:PASSWORD@HOST:PORT/NAME';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DistillError(`queue '${redactUrl(text)}' is not a URL; ${example}`, ['queue']);
  }
  const shown = redactUrl(text);
  check(url.protocol === 'redis:' || url.protocol === 'rediss:', `queue ${shown} is not a redis:// or rediss:// URL; ${example}`, [
    'queue',
  ]);
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  check(parts.length === 1 || (parts.length === 2 && /^\d+$/.test(parts[0])), `queue ${shown} has no NAME after the port; ${example}`, [
    'queue',
  ]);
  const name = parts[parts.length - 1];
  check(!name.includes(':'), `queue name '${name}' contains ':'; BullMQ queue names cannot`, ['queue']);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const password = decodeURIComponent(url.password) || env[PASSWORD_VARIABLE] || undefined;
  return {
    name,
    connection: {
      host,
      port: Number(url.port || 6379),
      username: decodeURIComponent(url.username) || undefined,
      password,
      db: parts.length === 2 ? Number(parts[0]) : 0,
      tls: url.protocol === 'rediss:' ? { servername: host } : undefined,
      // BullMQ's workers block on Redis and need ioredis to retry commands for as long as it takes.
      maxRetriesPerRequest: null,
    },
    shown,
  };
}

export type BullMQ = typeof import('bullmq');
export type RedisClass = typeof import('ioredis').Redis;

/**
 * BullMQ and ioredis, loaded on first use: they are optional dependencies, needed only by the queue.
 * Missing, they give one line saying how to install them.
 */
export async function loadQueueModules(): Promise<{ bullmq: BullMQ; Redis: RedisClass }> {
  try {
    const [bullmq, ioredis] = await Promise.all([import('bullmq'), import('ioredis')]);
    return { bullmq, Redis: ioredis.Redis };
  } catch (error) {
    throw new DistillError(
      `the labelling queue needs the optional packages bullmq and ioredis (${messageOf(error)}); ` +
        'install them with npm install bullmq@6 ioredis',
    );
  }
}

/** How long a first connection may take before the queue counts as unreachable. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connects once, without retrying, and pings: an unreachable server or a wrong password is then one clear
 * error at start-up, not a client retrying for ever. Returns a client for the result keys.
 */
export async function connectQueue(Redis: RedisClass, address: QueueAddress): Promise<InstanceType<RedisClass>> {
  const client = new Redis({
    ...address.connection,
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  // The connection's own error (refused, timed out, TLS) says more than the rejected connect().
  let cause: unknown;
  client.on('error', (error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new DistillError(`cannot connect to ${address.shown}: ${redactUrl(messageOf(cause ?? error))}`);
  }
  // From here on, reconnect after a blip rather than fail.
  client.options.retryStrategy = (times: number) => Math.min(times * 200, 2000);
  client.options.maxRetriesPerRequest = null;
  return client;
}

/** How long a polite QUIT may take on shutdown before the connection is dropped instead. */
const QUIT_MS = 1000;

/** Closes a client within about a second: QUIT when Redis answers, else the socket is dropped (Redis may be gone). */
export async function closeClient(client: InstanceType<RedisClass>): Promise<void> {
  const quitting = client.status === 'ready' ? client.quit() : Promise.resolve();
  if (!(await settlesWithin(quitting, QUIT_MS)) || client.status !== 'end') client.disconnect();
}

/** Results stay this long in Redis if no coordinator collects them. */
export const RESULT_TTL_SECONDS = 7 * 24 * 3600;

/** The Redis key a job's logits go to (raw float32 bytes, rows x classes, row-major). */
export function resultKey(queue: string, jobId: string): string {
  return `tfjs-distill:${queue}:logits:${jobId}`;
}

/** How every worker opens and feeds the teacher: as the coordinator was told (see LabelOptions). */
export type QueueTeacherSettings = Pick<
  TeacherSettings,
  'teacherNormalize' | 'teacherLayout' | 'teacherOutput' | 'teacherRuntime' | 'ensemble' | 'temperature'
>;

/** What each job carries: the rows, the data and teacher by path and by hash, and how to run the teacher. */
export interface LabelJob {
  /** Bumped when the job's meaning changes, so that an older worker refuses a newer job. */
  protocol: number;
  /**
   * The data as the CLI names it (absolute paths; for text also the tokenizer, length, fields, classes and
   * augmentation), and the hash of the training rows it gives.
   */
  data: QueueDataSource;
  dataKey: string;
  /** The teacher's model.json (absolute path), or every member's of an ensemble, and the hash of its weights. */
  teacher: string | string[];
  teacherKey: string;
  /** Normalisation, an ONNX teacher's layout and output, the runtime of a layers teacher, an ensemble's combination and temperature. */
  teacherSettings: QueueTeacherSettings;
  /** Modules every worker imports (main thread and threads) before it opens the teacher, e.g. custom layers. */
  workerImports: string[];
  start: number;
  end: number;
}

/**
 * 2: jobs carry teacherSettings and workerImports; 3: text data, with its tokenizer and augmentation;
 * 4: an ensemble's teachers (a list), its combination and temperature; 5: sweep trials share the queue
 * (jobs named {@link TRIAL_JOB_NAME}), which a worker of protocol 4 would take and drop unrun.
 */
export const JOB_PROTOCOL = 5;

/** The data a job names: every setting that decides the rows, none that only decides how they are read. */
export type QueueDataSource = Omit<DataSourceOptions, 'workers' | 'onImageProgress'>;

/** The job's name in BullMQ. */
export const JOB_NAME = 'label';

/** What the queue reads of a sweep trial job; the rest of it is the sweep's (src/sweep/trial-job.ts). */
export interface TrialJobHeader {
  /** As a label job's: an older worker refuses a newer job. */
  protocol: number;
  /** The trial's index in the sweep, for log lines. */
  trial: number;
}

/** A sweep trial's job name in BullMQ: it shares the label jobs' queue, and the same workers take both. */
export const TRIAL_JOB_NAME = 'trial';
