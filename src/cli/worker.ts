import { serveLabelQueue } from '../queue/queue-worker.js';
import { runTrialJob } from '../sweep/trial-job.js';
import { check } from '../errors.js';
import type { LabelWorkerOptions } from '../queue/queue-worker.js';
import { importModules } from './inputs.js';

/**
 * `tfjs-distill worker --queue URL`: labels queued rows and trains queued sweep trials until stopped (Ctrl-C or
 * SIGTERM stop it within seconds, handing running jobs back).
 */
export async function workerCommand(given: Record<string, unknown>, signal: AbortSignal): Promise<void> {
  const settings = given as Partial<LabelWorkerOptions>;
  const { queue, workers, backend, kernels, barrierTimeoutMs, workerMemoryMb, workerImports, stallSeconds, queueTimeoutSeconds } = settings;
  check(queue, 'worker needs --queue redis://HOST:PORT/NAME: the queue a tfjs-distill label --queue or sweep --queue coordinator fills');
  await importModules(workerImports ?? []);
  const result = await serveLabelQueue({
    queue,
    ...{ workers, backend, kernels, barrierTimeoutMs, workerMemoryMb, workerImports, stallSeconds, queueTimeoutSeconds },
    onLog: (line) => process.stdout.write(`${line}\n`),
    trialRunner: runTrialJob,
    signal,
  });
  const handedBack = result.handedBack > 0 ? `; ${result.handedBack} unfinished, given back to the queue` : '';
  process.stdout.write(`stopped after ${result.jobs} job${result.jobs === 1 ? '' : 's'}${handedBack}\n`);
}
