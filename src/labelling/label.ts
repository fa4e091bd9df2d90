import type { Dataset } from '../data/dataset.js';
import { LogitTable } from '../data/logit-table.js';
import { SharedDataset } from '../data/shared-dataset.js';
import { type CheckedShard, readShard, writeShard } from '../data/soft-label-shards.js';
import { checkEncoding, describeEncoding, readSoftLabels, softLabelEncoding } from '../data/soft-label-store.js';
import { check } from '../errors.js';
import { INFER_BATCH, computeLogits } from '../infer/logits.js';
import type { BackendChoice, BackendName, KernelsUsed } from '../kernels/backend.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';
import type { ProgressEvent } from '../progress.js';
import type { InputLayout, TeacherNormalize } from '../models/onnx-teacher.js';
import { type TeacherInput, openLabellingTeacher } from '../teachers/open-teacher.js';
import { type EnsembleCombination, usesTfjs } from '../infer/predictor.js';
import { datasetDigest, softLabelKey } from '../teachers/fingerprint.js';
import type { TeacherRuntime } from '../options/options.js';
import { type KeysOfGroups, type LibraryKeys, type SameKeys, resolveOptions } from '../options/resolve.js';
import type { TeacherRuntimeUsed } from '../teachers/teacher-runtime.js';
import { obtainSoftLabels } from './soft-labels.js';
import type { PoolKeeper } from '../pool/pool-keeper.js';
import { PoolSupervisor } from '../pool/supervisor.js';
import { trace } from '../trace.js';

/** Shard `index` of `count` (0-based): a contiguous range of whole inference batches. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** Everything {@link label} takes. `teacher`, `train` and `softLabels` are required. */
export interface LabelOptions {
  /**
   * The teacher: a model, the path of a saved model.json (or its folder, layers or graph model), or an
   * .onnx file; a list of them is an ensemble, combined as `ensemble` says.
   */
  teacher: TeacherInput;
  /** As `distill`'s: how an ensemble combines its teachers, 'logits' or 'probabilities' (at `temperature`). Default 'logits'. */
  ensemble?: EnsembleCombination;
  /** As `distill`'s: normalise the teacher's input, an ONNX teacher's layout and output. */
  teacherNormalize?: TeacherNormalize | null;
  teacherLayout?: InputLayout | null;
  teacherOutput?: string | null;
  /** As `distill`'s: what runs a layers teacher, tfjs or onnxruntime (its graph exported to ONNX). Default 'auto'. */
  teacherRuntime?: TeacherRuntime;
  /** The rows to label (the training split a later run distils on). */
  train: Dataset;
  /** The soft-label store to write (reused when it already holds these labels). With `shard`, see {@link shardFile}. */
  softLabels: string;
  /** Keep the teacher's top k classes per row, as `distill` does. Default: null, every logit. */
  softLabelTopK?: number | null;
  /** The temperature of a top-k store (part of its identity). Default 4. */
  temperature?: number;
  /** Label only this shard, into its own file, for {@link mergeShards} to join later. Default: every row. */
  shard?: ShardSpec | null;
  workers?: number;
  backend?: BackendChoice;
  kernels?: KernelChoice;
  barrierTimeoutMs?: number;
  maxRestarts?: number;
  workerMemoryMb?: number | null;
  workerImports?: string[];
  /** Called with progress while the teacher labels. */
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** The option groups label() resolves, and its own options (the rows, the shard). */
const LABEL_SCOPE = {
  groups: ['teacher', 'labelling', 'runtime'],
  own: ['train', 'shard'],
  omit: ['threadsPerWorker', 'trainWorkers'],
} as const;

// LabelOptions names exactly the options of LABEL_SCOPE (this fails to compile otherwise).
type LabelKeys =
  | Exclude<KeysOfGroups<(typeof LABEL_SCOPE)['groups'][number]> & LibraryKeys, 'threadsPerWorker' | 'trainWorkers'>
  | 'train'
  | 'shard';
const LABEL_OPTIONS_MATCH: SameKeys<keyof LabelOptions, LabelKeys> = true;
void LABEL_OPTIONS_MATCH;

/** What {@link label} did. */
export interface LabelResult {
  /** The file written or reused: the store, or the shard file. */
  file: string;
  /** The rows it holds, [start, end), and the table's row count. */
  range: [number, number];
  rows: number;
  /** True when the file already held these labels and nothing was labelled. */
  reused: boolean;
  /** The store's key: which teacher labelled which data. */
  key: string;
  encoding: string;
  /** Seconds the teacher spent labelling (recorded in the file; an earlier run's when reused). */
  labelSeconds: number;
  fileBytes: number;
  /**
   * The pool that labelled; null when nothing was labelled, or when onnxruntime ran the teacher and the
   * pool loaded no tfjs (its own notices are the ones `distill` reports).
   */
  backend: BackendName | null;
  kernels: KernelsUsed | null;
  /** What ran the teacher; null when nothing was labelled. */
  teacherRuntime: TeacherRuntimeUsed | null;
  /** A store that could not be reused (and why), restarts after worker failures. */
  notices: string[];
}

/** Where shard `index` of `count` of the store `file` goes: beside it, named after the shard. */
export function shardFile(file: string, shard: ShardSpec): string {
  return `${file}.shard-${shard.index}-of-${shard.count}`;
}

/**
 * The rows of a shard: the inference batches are cut into `count` contiguous runs whose sizes differ by
 * at most one batch, so every batch holds the rows it holds in one run and gets the same bits.
 */
export function shardRows(rows: number, shard: ShardSpec): [number, number] {
  const batches = Math.ceil(rows / INFER_BATCH);
  const first = Math.floor((shard.index * batches) / shard.count);
  const last = Math.floor(((shard.index + 1) * batches) / shard.count);
  return [Math.min(first * INFER_BATCH, rows), Math.min(last * INFER_BATCH, rows)];
}

/** Checks a shard setting, with an error naming the option. */
export function checkShard(shard: ShardSpec): void {
  check(
    Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count,
    `shard ${shard.index}/${shard.count} is out of range: the count must be an integer >= 1 and the index an integer in [0, count)`,
    ['shard'],
  );
}

/**
 * Teacher labelling alone: the teacher labels the rows (all, or one shard's) on a pool of worker threads,
 * and the soft labels go to the store (or shard) file, exactly as `distill` would write them. A file that
 * already holds these labels is reused.
 */
export function label(options: LabelOptions): Promise<LabelResult> {
  return labelOnKeptPools(options, undefined);
}

/** {@link label}, its pool taken from `keeper` and, when it ends, given back to it (a pool that failed is stopped instead; a sweep's probe or trials run on it next). */
export async function labelOnKeptPools(options: LabelOptions, keeper: PoolKeeper | undefined): Promise<LabelResult> {
  check(typeof options.softLabels === 'string' && options.softLabels !== '', 'softLabels must name the file to write', ['softLabels']);
  const config = resolveOptions(options, LABEL_SCOPE);
  const { shard } = options;
  if (shard) checkShard(shard);
  const onProgress = options.onProgress ?? (() => {});
  const train = SharedDataset.fromDataset(options.train, 'train');
  const encoding = softLabelEncoding(config);
  checkEncoding(encoding, train.numClasses);
  trace('label open teacher');
  const teacher = await openLabellingTeacher(options.teacher, train, { ...config, teacherEpochs: 0 });
  const key = softLabelKey(teacher.digest, options.train);
  const keys = () => ({ key, teacherKey: teacher.digest, dataKey: datasetDigest(options.train) });
  const range = shard ? shardRows(train.rows, shard) : ([0, train.rows] as [number, number]);
  const file = shard ? shardFile(options.softLabels, shard) : options.softLabels;
  const result = (reused: boolean, labelSeconds: number, fileBytes: number): LabelResult => ({
    file,
    range,
    rows: train.rows,
    reused,
    key,
    encoding: describeEncoding(encoding),
    labelSeconds,
    fileBytes,
    backend: null,
    kernels: null,
    teacherRuntime: null,
    notices: [],
  });

  // A file that already holds these labels: nothing to do, and no pool to start.
  if (shard) {
    const read = await readShard(file);
    const same = (h: CheckedShard) =>
      h.header.key === key &&
      JSON.stringify(h.header.encoding) === JSON.stringify(encoding) &&
      h.header.start === range[0] &&
      h.header.end === range[1] &&
      h.header.rows === train.rows;
    if (read.ok && same(read.shard)) return result(true, read.shard.header.labelSeconds, read.shard.fileBytes);
    if (range[0] === range[1]) {
      // More shards than batches: this one holds no rows, but its file tells the merge so.
      const meta = { ...keys(), encoding, start: range[0], end: range[1], shard, labelSeconds: 0 };
      return result(false, 0, await writeShard(file, LogitTable.create(train.rows, train.numClasses), meta));
    }
  } else {
    const read = await readSoftLabels(file, LogitTable.create(train.rows, train.numClasses), key, encoding);
    if (read.ok) return result(true, read.labelSeconds, read.fileBytes);
  }

  const { workers, backend, kernels, barrierTimeoutMs, workerImports } = config;
  // A teacher that onnxruntime runs needs no tfjs in the threads, unless the pool is kept for runs after this one.
  const loadTfjs = keeper !== undefined || workerImports.length > 0 || usesTfjs(teacher.model);
  const supervisor = new PoolSupervisor({
    pool: { workers, backend, kernels, barrierTimeoutMs, workerImports, workerMemoryMb: config.workerMemoryMb ?? undefined, loadTfjs },
    maxRestarts: config.maxRestarts,
    resumesFrom: 'the start of the shard',
    onProgress,
    signal: options.signal,
    keeper,
  });
  try {
    const handle = teacher.model;
    trace('label pool begin');
    const done = await supervisor.run('label', async (pool) => {
      trace('label pool ready');
      const pooled = { backend: pool.backend, kernels: pool.kernels, teacherRuntime: teacher.runtime, notices: [...teacher.notices] };
      if (!shard) {
        const labels = await obtainSoftLabels(pool, {
          teacher: handle,
          teacherDigest: teacher.digest,
          data: options.train,
          shared: train,
          encoding,
          file,
          onProgress,
          signal: options.signal,
        });
        const notices = labels.notice ? [...pooled.notices, labels.notice] : pooled.notices;
        return { ...result(false, labels.labelSeconds, labels.report.fileBytes ?? 0), ...pooled, notices };
      }
      const run = await computeLogits(pool, handle, train, { phase: 'label', rows: range, onProgress, signal: options.signal });
      const values = run.table.values.subarray(range[0] * train.numClasses, range[1] * train.numClasses);
      check(
        values.every(Number.isFinite),
        'the teacher produced non-finite logits (NaN or Infinity); check the teacher model and the data',
      );
      const fileBytes = await writeShard(file, run.table, {
        ...keys(),
        encoding,
        start: range[0],
        end: range[1],
        shard,
        labelSeconds: run.seconds,
      });
      return { ...result(false, run.seconds, fileBytes), ...pooled };
    });
    trace('label stored');
    if (supervisor.restarts.length > 0) done.notices.push(...supervisor.restarts.map((r) => `restarted the workers: ${r.reason}`));
    return done;
  } finally {
    await supervisor.release();
  }
}
