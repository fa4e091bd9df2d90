// A queue worker's side of a sweep trial (`tfjs-distill worker`): reload the data the job names, check it is
// the coordinator's, and run the trial exactly as the local sweep runs it, into the shared output folder.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import { type DataSplits, loadDataSource } from '../data/data-source.js';
import { type MeasureOnce, measuredOnce } from '../distill/measure-once.js';
import { messageOf } from '../errors.js';
import { resolveConfig } from '../options/options.js';
import type { TrialJobRunner, TrialJobTools } from '../queue/queue-worker.js';
import { importModules } from '../url-or-path.js';
import type { TrialJob, TrialJobResult } from './queue-trials.js';
import { sweepDataDigest, trialContext } from './trial-context.js';
import { runTrial } from './trial.js';

/** The data each distinct job source gave, loaded once per process (a sweep's jobs all name the same). */
const loadedData = new Map<string, Promise<DataSplits>>();

function dataOf(job: TrialJob): Promise<DataSplits> {
  const key = JSON.stringify(job.data);
  let loading = loadedData.get(key);
  if (!loading) {
    loading = loadDataSource(job.data);
    loadedData.set(key, loading);
    loading.catch(() => loadedData.delete(key)); // a file that appears later may load next time
  }
  return loading;
}

/**
 * What a sweep's trials measure once (see MeasureOnce), kept per sweep for this process: a worker's trials of
 * one sweep (its output folder, its data) share the teacher's test figures and each architecture's latency,
 * as a local sweep's do.
 */
const measuredBySweep = new Map<string, MeasureOnce>();

function measureOnceOf(job: TrialJob): MeasureOnce {
  const sweep = JSON.stringify([job.out, job.dataKey, job.data]);
  let once = measuredBySweep.get(sweep);
  if (!once) {
    once = measuredOnce();
    measuredBySweep.set(sweep, once);
  }
  return once;
}

/** Fails the job for good unless this machine can reach `path` as `mode` asks; the message names the path and the fix. */
async function reachable(path: string, mode: number, what: string, tools: TrialJobTools): Promise<void> {
  try {
    await access(path, mode);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? messageOf(error);
    throw tools.unrecoverable(
      `cannot ${mode === constants.R_OK ? 'read' : 'write'} ${what} ${path} on ${hostname()} (${reason}); ` +
        'run the sweep with an out folder (and soft-label store) on a file system every worker reaches at the same path',
    );
  }
}

/**
 * Runs one trial job (see TrialJob) and writes its folder under the sweep's shared output folder. A store or
 * output folder this machine cannot reach, or data that hashes differently here, fails the job for good:
 * another attempt on the same machine would fail the same way.
 */
export const runTrialJob: TrialJobRunner = async ({ data }, tools) => {
  const job = data as unknown as TrialJob;
  if (job.storeFile !== null) await reachable(job.storeFile, constants.R_OK, 'the soft-label store', tools);
  await reachable(job.out, constants.W_OK, 'the sweep folder', tools);
  const imports = job.options.workerImports ?? [];
  await importModules(imports, (module) => `the job's workerImports module ${module} could not be imported here`);
  const { train, test, teacherView } = await dataOf(job);
  const base = { ...job.options, train, test, teacherView, signal: tools.signal };
  const dataKey = sweepDataDigest(base);
  if (dataKey !== job.dataKey) {
    throw tools.unrecoverable(
      `the data ${job.data.source} here hashes to ${dataKey}, the coordinator's to ${job.dataKey}; give every machine the same data files`,
    );
  }
  const config = resolveConfig({ ...base, student: job.student ?? 'unset' });
  const context = trialContext({
    base,
    student: job.student,
    config,
    storeFile: job.storeFile,
    out: job.out,
    extras: job.extras,
    measureOnce: measureOnceOf(job),
  });
  await runTrial(job.plan, job.workers, context);
  const result: TrialJobResult = { host: hostname() };
  return result;
};
