import type { ProgressEvent } from '../progress.js';

const LABELS: Record<ProgressEvent['phase'], string> = {
  setup: 'starting workers',
  teacher: 'training teacher',
  label: 'labelling',
  student: 'distilling student',
  baseline: 'training baseline',
  evaluate: 'evaluating',
};

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** One line describing an event, e.g. "distilling student  epoch 2/3  step 120/1407  loss 0.4121  8,512 samples/s". */
function describeProgress(event: ProgressEvent): string {
  const parts = [LABELS[event.phase].padEnd(18)];
  if (event.epoch !== undefined) parts.push(`epoch ${event.epoch}/${event.epochs}`, `step ${event.done}/${event.total}`);
  else if (event.phase !== 'setup') parts.push(`rows ${number.format(event.done)}/${number.format(event.total)}`);
  if (event.loss !== undefined) parts.push(`loss ${event.loss.toFixed(4)}`);
  if (event.samplesPerSec > 0) parts.push(`${number.format(event.samplesPerSec)} samples/s`);
  return parts.join('  ');
}

/**
 * Live progress on stderr. On a terminal one line is rewritten in place; in a log (CI, a pipe) a line is
 * printed when a phase or epoch ends, and otherwise at most every `logIntervalMs`.
 */
export class ProgressView {
  private last = 0;
  private lastKey = '';
  private open = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly logIntervalMs = 10_000,
  ) {}

  update = (event: ProgressEvent): void => {
    if (event.notice) {
      this.finishLine();
      this.stream.write(`tfjs-distill: ${event.notice}\n`);
      return;
    }
    const line = describeProgress(event);
    const finished = event.done === event.total;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.open = true;
      if (finished) this.finishLine();
      return;
    }
    const key = `${event.phase}:${event.epoch ?? ''}`;
    const now = Date.now();
    if (finished || key !== this.lastKey || now - this.last >= this.logIntervalMs) {
      this.stream.write(`${line}\n`);
      this.last = now;
      this.lastKey = key;
    }
  };

  /** Ends the in-place line, so what follows starts on a fresh one. */
  finishLine(): void {
    if (this.open) this.stream.write('\n');
    this.open = false;
  }
}
