import * as Comlink from 'comlink';
import { MessageChannel, type MessagePort } from 'node:worker_threads';

/** The coordinator's side of a task's control channel, as the worker sees it through Comlink. */
export interface ControlApi<E, S> {
  /** Streams one progress event. */
  report(event: E): void;
  /** Hands the coordinator a state to keep (a checkpoint to write), its buffers moved, not copied. */
  keep(state: S): void;
}

// Node's MessagePort is an EventTarget with the browser's message API, which is all Comlink needs.
const endpoint = (port: MessagePort) => port as unknown as Comlink.Endpoint;

/**
 * Coordinator side: a fresh MessageChannel whose far port goes to one task (put it in the task's
 * transferList). Progress events arrive at `onEvent`, and states handed over at `onKeep`, in order.
 * Cancellation does not travel here: the ranks read a flag in shared memory every step.
 */
export function openControlChannel<E, S = never>(onEvent: (event: E) => void, onKeep: (state: S) => void = () => {}) {
  const { port1, port2 } = new MessageChannel();
  const api: ControlApi<E, S> = { report: onEvent, keep: onKeep };
  Comlink.expose(api, endpoint(port1));
  return { port: port2, close: () => port1.close() };
}

/** Worker side: reports progress at most every `intervalMs` (and always when forced), without waiting for the answer. */
export class ControlClient<E, S = never> {
  private readonly remote: Comlink.Remote<ControlApi<E, S>>;
  private lastSent = 0;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly port: MessagePort,
    private readonly intervalMs = 100,
  ) {
    this.remote = Comlink.wrap<ControlApi<E, S>>(endpoint(port));
  }

  /**
   * Hands `state` to the coordinator, the buffers in `transfer` moved (this thread must not use them again).
   * The message is posted before this returns; the promise settles when the coordinator has taken it, which
   * a task awaits before it returns, since messages on two ports keep no order. (The coordinator closes the
   * channel only after the task ended, so the answer always comes.)
   */
  keep(state: S, transfer: ArrayBuffer[]): Promise<void> {
    return this.remote.keep(Comlink.transfer(state, transfer) as Comlink.UnproxyOrClone<S>).then(
      () => {},
      () => {},
    );
  }

  /** Sends `event` unless one went out less than `intervalMs` ago (`force` sends anyway); true if sent. */
  report(event: E, force = false): boolean {
    const now = performance.now();
    if (!force && now - this.lastSent < this.intervalMs) return false;
    this.lastSent = now;
    this.pending = this.remote.report(event as Comlink.UnproxyOrClone<E>).then(
      () => {},
      () => {}, // a closed channel means the coordinator stopped listening; the task ends anyway
    );
    return true;
  }

  /** Waits (briefly: the coordinator may be gone) for the last report's answer, then closes the channel. */
  async close(): Promise<void> {
    await Promise.race([this.pending, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    this.port.close();
  }
}
