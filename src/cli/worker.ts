import { serveLabelQueue } from '../queue/queue-worker.js';
import { check } from '../errors.js';
import type { BackendChoice } from '../kernels/backend.js';
import type { KernelChoice } from '../kernels/kernel-choice.js';
import type { WorkerFlags } from './flags.js';
import { importModules } from './inputs.js';

/** `tfjs-distill worker --queue URL`: labels queued jobs until stopped (Ctrl-C or SIGTERM stop it within seconds, handing running jobs back). */
export async function workerCommand(flags: WorkerFlags, signal: AbortSignal): Promise<void> {
  check(flags.queue, 'worker needs --queue redis://HOST:PORT/NAME: the queue a tfjs-distill label --queue coordinator fills');
  const imports = await importModules(flags);
  const result = await serveLabelQueue({
    queue: flags.queue,
    workers: flags.workers,
    backend: flags.backend as BackendChoice | undefined,
    kernels: flags.kernels as KernelChoice | undefined,
    workerMemoryMb: flags['worker-memory-mb'],
    workerImports: imports,
    stallSeconds: flags['stall-seconds'],
    queueTimeoutSeconds: flags['queue-timeout'],
    onLog: (line) => process.stdout.write(`${line}\n`),
    signal,
  });
  const handedBack = result.handedBack > 0 ? `; ${result.handedBack} unfinished, given back to the queue` : '';
  process.stdout.write(`stopped after ${result.jobs} job${result.jobs === 1 ? '' : 's'}${handedBack}\n`);
}
