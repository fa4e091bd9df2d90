import { type LabelOptions, type LabelResult, type ShardSpec, checkShard, label } from '../labelling/label.js';
import { labelOnQueue } from '../queue/queue.js';
import { DistillError, check } from '../errors.js';
import { DEFAULTS } from '../options/options.js';
import { teacherSplits } from '../data/data-source.js';
import {
  type DataSettings,
  checkEnsembleMembers,
  dataSourceOf,
  importModules,
  loadData,
  loadTeacher,
  trainingAugment,
  withTeacherDataDefaults,
} from './inputs.js';
import { isArchitecture } from './run-config.js';
import { ProgressView } from './progress-view.js';

/** The variables a batch scheduler sets to each task's index, in the order `--shard auto/N` reads them. */
const INDEX_VARIABLES = ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID'];

/** Reads `--shard K/N` or `--shard auto/N` (K from the scheduler's environment). */
export function parseShard(text: string, env: NodeJS.ProcessEnv = process.env): ShardSpec {
  const match = /^(\d+|auto)\/(\d+)$/.exec(text);
  if (!match) throw new DistillError(`--shard expects K/N or auto/N (0 <= K < N), got '${text}'`);
  const count = Number(match[2]);
  if (match[1] !== 'auto') {
    const shard = { index: Number(match[1]), count };
    checkShard(shard);
    return shard;
  }
  const variable = INDEX_VARIABLES.find((name) => env[name] !== undefined && env[name] !== '');
  if (!variable) {
    throw new DistillError(
      `--shard auto/${count} takes the shard index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID ` +
        '(a Slurm job array), and neither is set; give --shard K/N',
    );
  }
  const raw = env[variable]!;
  const index = Number(raw);
  check(
    /^\d+$/.test(raw) && index < count,
    `--shard auto/${count}: ${variable}=${raw} is not a shard index in [0, ${count})` +
      (variable === 'SLURM_ARRAY_TASK_ID' ? `; submit with --array=0-${count - 1}` : ''),
  );
  return { index, count };
}

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** The settings of `label` (see COMMANDS.label): the data, teacher, labelling, runtime and queue groups, and its own. */
type LabelSettings = DataSettings &
  Partial<Omit<LabelOptions, 'teacher' | 'train' | 'shard' | 'softLabels'>> & {
    /** A list: an ensemble of saved teachers. */
    teacher?: string | string[] | null;
    softLabels?: string | null;
    shard?: string;
    queue?: string;
    jobRows?: number;
    queueTimeoutSeconds?: number;
  };

/** The options of the teacher group label() and labelOnQueue() take beside the teacher itself. */
const TEACHER_SETTINGS = ['teacherNormalize', 'teacherLayout', 'teacherOutput', 'teacherRuntime', 'ensemble'] as const;

/**
 * `tfjs-distill label`: teacher labelling alone, into the soft-label store (or, with --shard, one shard
 * of it; with --queue, by worker processes on other machines).
 */
export async function labelCommand(given: Record<string, unknown>, signal: AbortSignal): Promise<void> {
  const settings = given as unknown as LabelSettings;
  const { softLabels: store, shard: shardText, queue, jobRows } = settings;
  check(typeof store === 'string', 'label needs --soft-labels FILE: the store (or, with --shard, the stem of the shard file) to write');
  check(!(shardText && queue), 'give --shard or --queue, not both: a shard is labelled here, a queue by workers');
  check(jobRows === undefined || queue, '--job-rows applies to --queue only');
  check(settings.queueTimeoutSeconds === undefined || queue, '--queue-timeout applies to --queue only');
  check(
    settings.augment == null || trainingAugment(settings.augment) === null,
    '--augment shift and flip move image rows in training, which label does not do; label takes mask:P and ngram:P (text)',
  );
  const shard = shardText === undefined ? null : parseShard(shardText);
  const teacherSettings = Object.fromEntries(
    TEACHER_SETTINGS.filter((key) => settings[key] !== undefined).map((key) => [key, settings[key]]),
  );
  const labelling = { softLabels: store, softLabelTopK: settings.softLabelTopK, temperature: settings.temperature };
  const view = new ProgressView();
  const start = performance.now();
  try {
    if (queue) {
      const teachers = [settings.teacher ?? []].flat();
      check(
        teachers.length > 0 && !teachers.some(isArchitecture),
        '--queue needs --teacher PATH (one or more): every worker loads each teacher from its path (a saved model.json or its folder)',
      );
      // The coordinator opens the teacher too (for its identity): custom layers must be known here as well.
      await importModules(settings.workerImports ?? []);
      const result = await labelOnQueue({
        queue,
        // The workers load the data as named here: with the class order and text defaults the teacher gives.
        data: dataSourceOf(await withTeacherDataDefaults(settings, Array.isArray(settings.teacher) ? null : settings.teacher)),
        teacher: settings.teacher!,
        ...teacherSettings,
        ...labelling,
        workerImports: settings.workerImports,
        jobRows,
        queueTimeoutSeconds: settings.queueTimeoutSeconds,
        onProgress: view.update,
        signal,
      });
      view.finishLine();
      if (result.reused) {
        process.stdout.write(`${result.file} already holds these labels (key ${result.key}); nothing was queued\n`);
        return;
      }
      const seconds = (performance.now() - start) / 1000;
      const reused = result.jobsReused > 0 ? `, ${result.jobsReused} of them done before this run` : '';
      process.stdout.write(
        `labelled ${number.format(result.rows)} rows in ${result.jobs} job${result.jobs === 1 ? '' : 's'}${reused} ` +
          `in ${result.labelSeconds.toFixed(1)} s ` +
          `(${number.format(result.rows / result.labelSeconds)} rows/s; ${seconds.toFixed(1)} s in all); ` +
          `wrote ${result.file} (${result.encoding}, ${number.format(result.fileBytes)} bytes)\n`,
      );
      return;
    }
    await importModules(settings.workerImports ?? []);
    const given = settings.teacher ?? null;
    if (Array.isArray(given)) checkEnsembleMembers(given);
    // What a teacher file says of the data comes from a single teacher, not an ensemble's members.
    const splits = await loadData(await withTeacherDataDefaults(settings, Array.isArray(given) ? null : given));
    const { vocabSize } = splits;
    // A teacher given as a file labels the rows as it was trained on them (a table's raw values).
    const { train } = teacherSplits(splits);
    const teacher = Array.isArray(given) ? given : loadTeacher(given, train, settings.seed ?? DEFAULTS.seed, vocabSize).teacher;
    const { workers, backend, kernels, barrierTimeoutMs, maxRestarts, workerMemoryMb, workerImports } = settings;
    const runtime = { workers, backend, kernels, barrierTimeoutMs, maxRestarts, workerMemoryMb, workerImports };
    const result = await label({ teacher, train, ...teacherSettings, ...labelling, shard, ...runtime, onProgress: view.update, signal });
    view.finishLine();
    process.stdout.write(`${describeLabel(result, shard)}\n`);
  } finally {
    view.finishLine();
  }
}

function describeLabel(result: LabelResult, shard: ShardSpec | null): string {
  const [start, end] = result.range;
  const which = shard ? `shard ${shard.index}/${shard.count}, rows ${start}-${end - 1} of ${number.format(result.rows)}` : 'every row';
  if (result.reused) return `${result.file} already holds these labels (${which}, key ${result.key}); nothing was labelled`;
  const notices = result.notices.map((notice) => `\ntfjs-distill: ${notice}`).join('');
  const runtime = result.teacherRuntime === 'onnxruntime' ? 'onnxruntime' : result.backend;
  const rate = end > start ? ` (${number.format((end - start) / result.labelSeconds)} rows/s, ${runtime})` : '';
  return (
    `labelled ${number.format(end - start)} rows (${which}) in ${result.labelSeconds.toFixed(1)} s${rate}; ` +
    `wrote ${result.file} (${result.encoding}, ${number.format(result.fileBytes)} bytes)${notices}`
  );
}
