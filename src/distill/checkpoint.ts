import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeBytesAtomic } from '../atomic-file.js';
import { DistillError, check, messageOf } from '../errors.js';
import type { TrainingPhase } from './progress.js';

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

/** Everything needed to continue a training phase exactly where it stopped. */
export interface TrainingCheckpoint {
  phase: TrainingPhase;
  /** The phase's total steps; the phase is finished when `progress.step` reaches it. */
  steps: number;
  progress: PhaseProgress;
  /** The model's weights, in the order of its weight specs. */
  weights: ArrayBuffer;
  optimizer: OptimizerState;
}

/** Values that must match for a checkpoint to be resumed: settings, and hashes of data and models. */
export type RunFingerprint = Record<string, string | number | boolean | null>;

const FORMAT_VERSION = 1;
const MAGIC = 'TFDCKPT1';

/**
 * A checkpointed file: 8 magic bytes, a little-endian uint32 header length, a JSON header (which records
 * the body's length and SHA-256), then the body. Written atomically, so a crash never leaves a file that
 * passes these checks half-written.
 */
async function writeChecksummed(path: string, magic: string, header: object, body: Uint8Array[]): Promise<void> {
  const hash = createHash('sha256');
  let bodyBytes = 0;
  for (const part of body) {
    hash.update(part);
    bodyBytes += part.byteLength;
  }
  const json = Buffer.from(JSON.stringify({ ...header, version: FORMAT_VERSION, bodyBytes, sha256: hash.digest('hex') }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.byteLength);
  await writeBytesAtomic(path, [Buffer.from(magic, 'ascii'), length, json, ...body]);
}

async function readChecksummed<H>(path: string, magic: string): Promise<{ header: H; body: Buffer }> {
  const bytes = await readFile(path);
  const corrupt = (why: string) => new DistillError(`checkpoint file ${path} is corrupt (${why}); delete the checkpoint folder and start again`);
  if (bytes.byteLength < 12 || bytes.toString('ascii', 0, 8) !== magic) throw corrupt('not a tfjs-distill checkpoint');
  const headerEnd = 12 + bytes.readUInt32LE(8);
  if (headerEnd > bytes.byteLength) throw corrupt('truncated header');
  let header: H & { version: number; bodyBytes: number; sha256: string };
  try {
    header = JSON.parse(bytes.toString('utf8', 12, headerEnd));
  } catch {
    throw corrupt('unreadable header');
  }
  if (header.version !== FORMAT_VERSION) throw corrupt(`format version ${header.version}, this tfjs-distill reads ${FORMAT_VERSION}`);
  const body = bytes.subarray(headerEnd);
  if (body.byteLength !== header.bodyBytes) throw corrupt(`${body.byteLength} body bytes, the header says ${header.bodyBytes}`);
  if (createHash('sha256').update(body).digest('hex') !== header.sha256) throw corrupt('checksum mismatch');
  return { header, body };
}

const bytesOf = (values: ArrayBufferView) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

/** Writes a training phase's state (called by rank 0 in its worker thread). */
export async function writeTrainingCheckpoint(path: string, checkpoint: TrainingCheckpoint): Promise<void> {
  const { weights, optimizer, ...header } = checkpoint;
  await writeChecksummed(
    path,
    MAGIC,
    { ...header, weightBytes: weights.byteLength, optimizer: { iterations: optimizer.iterations, tensors: optimizer.tensors } },
    [new Uint8Array(weights), bytesOf(optimizer.values)],
  );
}

async function readTrainingCheckpoint(path: string): Promise<TrainingCheckpoint> {
  type Header = Omit<TrainingCheckpoint, 'weights' | 'optimizer'> & { weightBytes: number; optimizer: Omit<OptimizerState, 'values'> };
  const { header, body } = await readChecksummed<Header>(path, MAGIC);
  const { weightBytes, optimizer, ...rest } = header;
  const copy = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
  return {
    ...rest,
    weights: copy.slice(0, weightBytes),
    optimizer: { ...optimizer, values: new Float32Array(copy.slice(weightBytes)) },
  };
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
      check(existing !== undefined, `nothing to resume: ${dir} holds no checkpoint; start the run without --resume`);
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
    } else {
      check(
        existing === undefined,
        `${dir} already holds the checkpoint of an earlier run; continue it with --resume, or delete it to start afresh`,
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

const exists = (path: string) => stat(path).then(
  () => true,
  () => false,
);

/** The keys whose values differ, as `key (checkpoint X, now Y)`. */
function fingerprintDifferences(saved: RunFingerprint, now: RunFingerprint): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  return keys.filter((key) => saved[key] !== now[key]).map((key) => `${key} (checkpoint ${saved[key]}, now ${now[key]})`);
}
