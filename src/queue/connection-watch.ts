import type { EventEmitter } from 'node:events';
import { DistillError } from '../errors.js';

/** While Redis is unreachable, a reminder at most this often, with the time since it was lost. */
const REMINDER_MS = 10_000;

/** What {@link watchConnection} tells its owner. */
export interface ConnectionWatchOptions {
  /** The queue URL as it may be shown (see QueueAddress.shown). */
  shown: string;
  /** Seconds without Redis before `onGiveUp`; 0 never gives up. */
  timeoutSeconds: number;
  /** One line for the log: lost, still lost (at most every 10 s), back. */
  say: (line: string) => void;
  /** The connection state changed, or a reminder is due: seconds since it was lost, or null when it is up. */
  onState?: (lostSeconds: number | null) => void;
  /** Redis stayed unreachable for `timeoutSeconds`. */
  onGiveUp: (error: DistillError) => void;
}

/** A watch on one Redis client; `lostSince` is when it was lost (performance.now()), or null while connected. */
export interface ConnectionWatch {
  readonly lostSince: number | null;
  stop(): void;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * Watches an ioredis client that reconnects by itself (see connectQueue) and says, once, when the connection
 * is lost and when it is back, with a reminder while it stays lost; gives up after `timeoutSeconds`. The
 * client stands for the process's other connections to the same server (BullMQ's), whose every failed retry
 * would otherwise be a log line.
 */
export function watchConnection(client: EventEmitter, options: ConnectionWatchOptions): ConnectionWatch {
  let lostSince: number | null = null;
  let reminder: NodeJS.Timeout | undefined;
  let giveUp: NodeJS.Timeout | undefined;
  const clearTimers = () => {
    clearInterval(reminder);
    clearTimeout(giveUp);
  };
  const onLost = () => {
    if (lostSince !== null) return;
    const since = performance.now();
    lostSince = since;
    const limit = options.timeoutSeconds > 0 ? `; retrying for up to ${options.timeoutSeconds} s` : '';
    options.say(`lost the connection to ${options.shown}${limit || '; retrying'}`);
    options.onState?.(0);
    reminder = setInterval(() => {
      const lost = performance.now() - since;
      options.say(`still no connection to ${options.shown}, lost ${seconds(lost)} ago`);
      options.onState?.(lost / 1000);
    }, REMINDER_MS);
    if (options.timeoutSeconds > 0) {
      giveUp = setTimeout(() => {
        clearTimers();
        options.onGiveUp(
          new DistillError(
            `gave up on ${options.shown}: unreachable for ${options.timeoutSeconds} s (queueTimeoutSeconds); ` +
              'start Redis again and rerun, or wait longer with a larger queueTimeoutSeconds',
            ['queueTimeoutSeconds'],
          ),
        );
      }, options.timeoutSeconds * 1000);
    }
  };
  const onReady = () => {
    if (lostSince === null) return;
    options.say(`the connection to ${options.shown} is back after ${seconds(performance.now() - lostSince)}`);
    lostSince = null;
    clearTimers();
    options.onState?.(null);
  };
  client.on('close', onLost);
  client.on('ready', onReady);
  return {
    get lostSince() {
      return lostSince;
    },
    stop() {
      clearTimers();
      client.off('close', onLost);
      client.off('ready', onReady);
    },
  };
}

/** Connection errors (refused, reset, closed): the watch reports those once, not once per retry. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EPIPE|EAI_AGAIN)$/.test(code)) {
    return true;
  }
  const message = (error as { message?: unknown })?.message;
  return typeof message === 'string' && /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Stream isn't writeable/.test(message);
}

/** Waits for `promise` at most `ms`; true when it settled in time. Never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
