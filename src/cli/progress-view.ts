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

/** A duration for people: 0.4 s, 42 s, 3:05, 1:02:09. */
export function formatDuration(seconds: number): string {
  if (seconds < 9.95) return `${Math.max(0, seconds).toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/**
 * What an event says, e.g. "epoch 2/3  step 120/1407  loss 0.4121  8,512 samples/s". The baseline runs the
 * student's number of steps over the labelled rows alone, so its passes over them can far outnumber the
 * epochs asked for: it says so rather than counting epochs.
 */
function describeProgress(event: ProgressEvent): string {
  const parts: string[] = [];
  if (event.phase === 'baseline' && event.rows !== undefined) {
    const passes = `${number.format(event.epochs ?? 0)} pass${event.epochs === 1 ? '' : 'es'}`;
    parts.push(
      `step ${number.format(event.done)}/${number.format(event.total)} ` +
        `(same steps as the student: ${passes} over ${number.format(event.rows)} labelled rows)`,
    );
  } else if (event.epoch !== undefined) {
    parts.push(`epoch ${event.epoch}/${event.epochs}`, `step ${number.format(event.done)}/${number.format(event.total)}`);
  } else {
    parts.push(`rows ${number.format(event.done)}/${number.format(event.total)}`);
  }
  if (event.loss !== undefined) parts.push(`loss ${event.loss.toFixed(4)}`);
  if (event.samplesPerSec > 0) parts.push(`${number.format(event.samplesPerSec)} samples/s`);
  if (event.waitingFor) parts.push(`waiting for ${event.waitingFor}`);
  return parts.join('  ');
}

/** The stream progress goes to: a terminal (isTTY, columns) or a log. */
export type ProgressStream = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };

/**
 * Live progress on stderr.
 * - On a terminal, each phase gets a progress bar with its ETA, rewritten in place, and left standing when
 *   the phase ends.
 * - In a log (CI, a pipe), a line when a phase ends, when an epoch of the teacher or the student ends, and
 *   otherwise at most one every `logIntervalMs`: a log is read afterwards, and a line per report would
 *   bury the rest.
 */
export class ProgressView {
  /** The phase (or, for evaluation, the model) being shown, and when it started. */
  private current: { phase: ProgressEvent['phase']; total: number; done: number; started: number; finished: boolean } | undefined;
  private lastLine = Number.NEGATIVE_INFINITY;
  private open = false;

  constructor(
    private readonly stream: ProgressStream = process.stderr,
    private readonly logIntervalMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  update = (event: ProgressEvent): void => {
    if (event.notice) {
      this.finishLine();
      this.stream.write(`tfjs-distill: ${event.notice}\n`);
      return;
    }
    const now = this.now();
    if (event.phase === 'setup') {
      // The pool reports its start and its end; the start is the news.
      if (event.done === 0) this.writeLine(LABELS.setup, now);
      this.current = undefined;
      return;
    }
    const current = this.current;
    if (!current || current.phase !== event.phase || current.total !== event.total || current.finished || event.done < current.done) {
      this.finishLine();
      this.current = { phase: event.phase, total: event.total, done: event.done, started: now, finished: false };
    }
    const run = this.current!;
    run.done = event.done;
    run.finished = event.done >= event.total;
    const seconds = (now - run.started) / 1000;
    const timing = run.finished
      ? `in ${formatDuration(seconds)}`
      : event.done > 0 && seconds >= 1
        ? `ETA ${formatDuration((seconds * (event.total - event.done)) / event.done)}`
        : '';
    const label = LABELS[event.phase].padEnd(18);
    const details = describeProgress(event);
    if (this.stream.isTTY) {
      const fraction = event.total > 0 ? Math.min(1, event.done / event.total) : 1;
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)} ${String(Math.floor(fraction * 100)).padStart(3)}%`;
      const line = [label, bar, timing, details].filter(Boolean).join('  ');
      // A line wider than the terminal wraps, and \r would then rewrite only its last part.
      const width = (this.stream.columns ?? 120) - 1;
      this.stream.write(`\r\x1b[2K${line.length > width ? line.slice(0, width) : line}`);
      this.open = true;
      if (run.finished) this.finishLine();
      return;
    }
    const epochEnd = event.epochEnd === true && event.phase !== 'baseline';
    if (run.finished || epochEnd || now - this.lastLine >= this.logIntervalMs) {
      this.writeLine([label, details, timing].filter(Boolean).join('  '), now);
    }
  };

  /** Ends the in-place line, so what follows starts on a fresh one. */
  finishLine(): void {
    if (this.open) this.stream.write('\n');
    this.open = false;
  }

  private writeLine(line: string, now: number): void {
    this.finishLine();
    this.stream.write(`${line}\n`);
    this.lastLine = now;
  }
}

/** Characters of a progress bar. */
const BAR_WIDTH = 24;
