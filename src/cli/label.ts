import { resolve } from 'node:path';
import { type LabelResult, type ShardSpec, checkShard, label } from '../labelling/label.js';
import { labelOnQueue } from '../queue/queue.js';
import { DistillError, check } from '../errors.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';
import type { TeacherRuntime } from '../options/options.js';
import type { InputLayout } from '../models/onnx-teacher.js';
import type { LabelFlags } from './flags.js';
import { dataSourceOf, importModules, loadData, loadTeacher } from './inputs.js';
import { ProgressView } from './progress-view.js';
import { parseNormalize } from './run-config.js';

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

/**
 * `tfjs-distill label`: teacher labelling alone, into the soft-label store (or, with --shard, one shard
 * of it; with --queue, by worker processes on other machines).
 */
export async function labelCommand(flags: LabelFlags, signal: AbortSignal): Promise<void> {
  const store = flags['soft-labels'];
  check(store !== undefined, 'label needs --soft-labels FILE: the store (or, with --shard, the stem of the shard file) to write');
  check(!(flags.shard && flags.queue), 'give --shard or --queue, not both: a shard is labelled here, a queue by workers');
  check(flags['job-rows'] === undefined || flags.queue, '--job-rows applies to --queue only');
  check(flags['queue-timeout'] === undefined || flags.queue, '--queue-timeout applies to --queue only');
  const shard = flags.shard === undefined ? null : parseShard(flags.shard);
  const view = new ProgressView();
  const teacherSettings = {
    teacherNormalize: flags['teacher-normalize'] === undefined ? null : parseNormalize(flags['teacher-normalize']),
    teacherLayout: (flags['teacher-layout'] ?? null) as InputLayout | null,
    teacherOutput: flags['teacher-output'] ?? null,
    teacherRuntime: flags['teacher-runtime'] as TeacherRuntime | undefined,
  };
  const start = performance.now();
  try {
    if (flags.queue) {
      check(
        flags.teacher,
        '--queue needs --teacher PATH: every worker loads the teacher from that path (a saved model.json or its folder)',
      );
      const result = await labelOnQueue({
        queue: flags.queue,
        data: dataSourceOf(flags),
        teacher: flags.teacher,
        ...teacherSettings,
        workerImports: await importModules(flags),
        queueTimeoutSeconds: flags['queue-timeout'],
        softLabels: resolve(store),
        softLabelTopK: flags['soft-label-top-k'] ?? null,
        temperature: flags.temperature,
        jobRows: flags['job-rows'],
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
    const imports = await importModules(flags);
    const { train } = await loadData(flags);
    const { teacher } = await loadTeacher(flags, train);
    const result = await label({
      teacher,
      train,
      softLabels: resolve(store),
      softLabelTopK: flags['soft-label-top-k'] ?? null,
      temperature: flags.temperature,
      shard,
      ...teacherSettings,
      workers: flags.workers,
      backend: flags.backend as BackendChoice | undefined,
      kernels: flags.kernels as KernelChoice | undefined,
      workerMemoryMb: flags['worker-memory-mb'],
      maxRestarts: flags['max-restarts'],
      workerImports: imports,
      onProgress: view.update,
      signal,
    });
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
