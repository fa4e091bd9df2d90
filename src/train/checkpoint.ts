import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { removeAbandonedTemps, writeBytesAtomic } from '../atomic-file.js';
import { readChecksummedFile, writeChecksummedFile } from '../checksummed-file.js';
import { DistillError, check, messageOf } from '../errors.js';
import type { TrainingPhase } from '../progress.js';

/** Checkpointing of a run (library option `checkpoint`; the CLI keeps it in `<out>/.checkpoint`). */
export interface CheckpointOptions {
  /** The folder that holds the run's checkpoints. */
  dir: string;
  /** Write the state of a training phase every this many optimizer steps. Default: once per epoch. */
  everySteps?: number;
  /**
   * Continue the run checkpointed in `dir`: finished phases are reused, an interrupted one continues from
   * its last checkpoint. Refused when the run's settings differ (the worker count may change). Without
   * it, a folder that already holds a checkpoint is refused, so an earlier run is never overwritten.
   */
  resume?: boolean;
}

/** How far a training phase got: enough to continue it, and to report on it as if never interrupted. */
export interface PhaseProgress {
  /** Optimizer steps done (the next step to run). */
  step: number;
  samples: number;
  /** Training wall time so far, summed over every session. */
  seconds: number;
  /** Steps whose averaged gradient was not finite and was skipped (`onNonFinite: 'skip'`). */
  skippedSteps: number;
  finalLoss: number;
}

/** An optimizer's state: its step count and its slot variables (e.g. Adam's moments), concatenated. */
export interface OptimizerState {
  iterations: number;
  tensors: { name: string; shape: number[] }[];
  values: Float32Array;
}

/**
 * Model selection on a validation split, as far as it got: the best epoch so far and its metric, the
 * epochs since it, and whether early stopping ended the phase.
 */
export interface SelectionState {
  bestEpoch: number;
  /** The selection metric at the best epoch (accuracy: higher is better; loss: lower). */
  bestValue: number;
  epochsSinceBest: number;
  stopped: boolean;
}

/** Everything needed to continue a training phase exactly where it stopped. */
export interface TrainingCheckpoint {
  phase: TrainingPhase;
  /** The phase's total steps; the phase is finished when `progress.step` reaches it. */
  steps: number;
  /** The ranks that trained it (absent in checkpoints from before it was recorded); a resumed phase may use others. */
  workers?: number;
  progress: PhaseProgress;
  /** The model's weights, in the order of its weight specs. */
  weights: ArrayBuffer;
  optimizer: OptimizerState;
  /** With a validation split: the selection so far, and the best epoch's weights when they are kept. */
  selection?: SelectionState;
  bestWeights?: ArrayBuffer;
}

/** Values that must match for a checkpoint to be resumed: settings, and hashes of data and models. */
export type RunFingerprint = Record<string, string | number | boolean | null>;

const FORMAT_VERSION = 2;
const FORMAT = { magic: 'TFDCKPT2', kind: 'checkpoint' };

const bytesOf = (values: ArrayBufferView) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

/** What a checkpoint file's header holds: everything but the weights and the optimizer's values. */
type CheckpointHeader = Omit<TrainingCheckpoint, 'weights' | 'optimizer' | 'bestWeights'> & {
  version: number;
  weightBytes: number;
  /** Bytes of the best epoch's weights, after the optimizer's values; 0 when none are kept. */
  bestWeightBytes: number;
  optimizer: Omit<OptimizerState, 'values'>;
};

/** Writes a training phase's state (the coordinator's {@link CheckpointWriter} does, as rank 0 hands it over). */
export async function writeTrainingCheckpoint(path: string, checkpoint: TrainingCheckpoint): Promise<void> {
  const { weights, optimizer, bestWeights, ...rest } = checkpoint;
  const header: CheckpointHeader = {
    ...rest,
    version: FORMAT_VERSION,
    weightBytes: weights.byteLength,
    bestWeightBytes: bestWeights?.byteLength ?? 0,
    optimizer: { iterations: optimizer.iterations, tensors: optimizer.tensors },
  };
  await writeChecksummedFile(path, FORMAT.magic, header, async (write) => {
    await write(new Uint8Array(weights));
    await write(bytesOf(optimizer.values));
    if (bestWeights) await write(new Uint8Array(bestWeights));
  });
}

/**
 * A phase's checkpoints as rank 0 hands them over, written on the coordinator's thread while the ranks
 * train on, one at a time: a checkpoint that arrives during a write replaces any still waiting, since only
 * the newest matters. The coordinator flushes before it resumes a phase or reports it done, so a
 * checkpoint handed over is on disk before anything reads it.
 */
export class CheckpointWriter {
  private waiting: TrainingCheckpoint | undefined;
  private writing: Promise<void> | undefined;
  /** The first write that failed; later checkpoints are dropped. */
  private error: unknown;

  /** `onError` is called once, when a write fails (a flush would throw it only once the writer is idle). */
  constructor(
    private readonly path: string,
    private readonly onError: () => void = () => {},
  ) {}

  /** Queues `checkpoint` to be written after the one being written. */
  add(checkpoint: TrainingCheckpoint): void {
    this.waiting = checkpoint;
    this.writing ??= this.drain();
  }

  /** Waits until every checkpoint handed over is written; throws the first write error. */
  async flush(): Promise<void> {
    await this.writing;
    if (this.error !== undefined) throw this.error;
  }

  private async drain(): Promise<void> {
    for (let next = this.waiting; next && this.error === undefined; next = this.waiting) {
      this.waiting = undefined;
      try {
        await writeTrainingCheckpoint(this.path, next);
      } catch (error) {
        this.error = new DistillError(
          `cannot write the checkpoint ${this.path}: ${messageOf(error)}; free space or fix the folder's permissions`,
          ['checkpoint.dir'],
        );
        this.onError();
      }
    }
    this.waiting = undefined;
    this.writing = undefined;
  }
}

async function readTrainingCheckpoint(path: string): Promise<TrainingCheckpoint> {
  const corrupt = (why: string) =>
    new DistillError(`checkpoint file ${path} is corrupt (${why}); delete the checkpoint folder and start again`);
  const read = await readChecksummedFile<CheckpointHeader, TrainingCheckpoint>(path, FORMAT, async (file) => {
    const { version, weightBytes, bestWeightBytes, optimizer, ...rest } = file.header;
    if (version !== FORMAT_VERSION) throw corrupt(`format version ${version}, this tfjs-distill reads ${FORMAT_VERSION}`);
    if (weightBytes + bestWeightBytes > file.bodyBytes) {
      throw corrupt(`${file.bodyBytes} body bytes, the header says at least ${weightBytes + bestWeightBytes}`);
    }
    const body = new Uint8Array(file.bodyBytes);
    const damage = await file.readBody(1 << 24, (part, offset) => body.set(part, offset));
    if (damage) throw corrupt(damage);
    return {
      ...rest,
      weights: body.buffer.slice(0, weightBytes),
      optimizer: { ...optimizer, values: new Float32Array(body.buffer.slice(weightBytes, body.byteLength - bestWeightBytes)) },
      bestWeights: bestWeightBytes > 0 ? body.buffer.slice(body.byteLength - bestWeightBytes) : undefined,
    };
  });
  if ('reason' in read) throw corrupt(read.reason);
  return read;
}

/**
 * The checkpoint folder of one run: `run.json` (the run's fingerprint), one `<phase>.ckpt` per training
 * phase (its latest state; finished when its step count reaches the phase's steps), and `soft-labels.bin`
 * (a soft-label store) once labelling is done.
 */
export class RunCheckpoint {
  private constructor(
    readonly dir: string,
    readonly everySteps: number | undefined,
  ) {}

  /** Opens (or, when not resuming, creates) the checkpoint folder, checking that it belongs to this run. */
  static async open(options: CheckpointOptions, fingerprint: RunFingerprint): Promise<RunCheckpoint> {
    const dir = resolve(options.dir);
    check(
      options.everySteps === undefined || (Number.isInteger(options.everySteps) && options.everySteps >= 1),
      `checkpoint interval must be an integer >= 1 step, got ${options.everySteps}`,
    );
    const runFile = join(dir, 'run.json');
    const existing = await readFile(runFile, 'utf8').catch(() => undefined);
    if (options.resume) {
      check(existing !== undefined, `nothing to resume: ${dir} holds no checkpoint; start the run without checkpoint.resume`, [
        'checkpoint.resume',
      ]);
      let saved: { fingerprint?: RunFingerprint };
      try {
        saved = JSON.parse(existing);
      } catch (error) {
        throw new DistillError(`checkpoint file ${runFile} is corrupt (${messageOf(error)}); delete ${dir} and start again`);
      }
      const differences = fingerprintDifferences(saved.fingerprint ?? {}, fingerprint);
      check(
        differences.length === 0,
        () =>
          `cannot resume from ${dir}: this run differs from the checkpointed one in ${differences.join(', ')}; ` +
          'rerun with the original settings, or start afresh with another output folder',
      );
      // A run killed mid-write left its temporary file beside the checkpoint it was replacing.
      await removeAbandonedTemps(dir);
    } else {
      check(
        existing === undefined,
        `${dir} already holds the checkpoint of an earlier run; continue it with checkpoint.resume, or delete it to start afresh`,
        ['checkpoint.resume'],
      );
      const info = await stat(dir).catch(() => undefined);
      check(!info || info.isDirectory(), `checkpoint folder ${dir} is a file; give a folder`);
      try {
        await mkdir(dir, { recursive: true });
        await writeBytesAtomic(runFile, [Buffer.from(`${JSON.stringify({ version: FORMAT_VERSION, fingerprint }, null, 2)}\n`)]);
      } catch (error) {
        throw new DistillError(`cannot write checkpoints to ${dir}: ${messageOf(error)}`);
      }
    }
    return new RunCheckpoint(dir, options.everySteps);
  }

  /** Where rank 0 writes the state of `phase`. */
  phaseFile(phase: TrainingPhase): string {
    return join(this.dir, `${phase}.ckpt`);
  }

  /** The latest state of `phase`, if it was checkpointed. */
  async loadPhase(phase: TrainingPhase): Promise<TrainingCheckpoint | undefined> {
    const path = this.phaseFile(phase);
    if (!(await exists(path))) return undefined;
    return readTrainingCheckpoint(path);
  }

  /** Where the run keeps its soft labels (a soft-label store file), unless the user gave one. */
  get softLabelsFile(): string {
    return join(this.dir, 'soft-labels.bin');
  }
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** The keys whose values differ, as `key (checkpoint X, now Y)`. */
function fingerprintDifferences(saved: RunFingerprint, now: RunFingerprint): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  return keys.filter((key) => saved[key] !== now[key]).map((key) => `${key} (checkpoint ${saved[key]}, now ${now[key]})`);
}
