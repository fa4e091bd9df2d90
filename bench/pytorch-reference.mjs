// The PyTorch reference's settings and its invocation, shared by bench/run.mjs and bench/cli-throughput.mjs.
import { fileURLToPath } from 'node:url';

/**
 * The PyTorch settings a round tries: as a user runs it (nothing set), every combination of torch's
 * threads and OpenBLAS's (its own pool, which torch.set_num_threads does not size; on this kind of VM one
 * torch thread with OpenBLAS on every core was PyTorch's best), and, above one thread, OpenMP's threads
 * sleeping while they wait (passive) instead of spinning, which spinning threads on shared cores need.
 * Many cores get a sparser grid: powers of two and the core count.
 */
export function pytorchSettings(cores) {
  const counts =
    cores <= 4 ? Array.from({ length: cores }, (_, i) => i + 1) : [...new Set([1, 2, 4, 8, 16, cores].filter((n) => n <= cores))];
  const settings = [{ threads: 0, blasThreads: null, waitPolicy: null }];
  for (const threads of counts) {
    for (const blasThreads of counts) settings.push({ threads, blasThreads, waitPolicy: null });
    if (threads > 1) settings.push({ threads, blasThreads: threads, waitPolicy: 'passive' });
  }
  return settings;
}

/** How a PyTorch setting reads in the tables. */
export const describePytorch = ({ threads, blasThreads, waitPolicy }) =>
  blasThreads === null
    ? `no settings (torch's default: ${threads} thread${threads === 1 ? '' : 's'}, OpenBLAS on every core)`
    : `${threads} torch thread${threads === 1 ? '' : 's'}, OPENBLAS_NUM_THREADS=${blasThreads}${waitPolicy ? `, OMP_WAIT_POLICY=${waitPolicy}` : ''}`;

/**
 * The command, arguments (bench/pytorch_kd.py on the bench's job) and environment of one PyTorch setting;
 * nothing inherited of the thread variables: the setting's alone. Each of its timings is
 * `settings.pytorchSteps` steps after a warm-up step, `settings.pytorchRepeats` times.
 */
export function pytorchCommand(setting, settings) {
  const { threads, blasThreads, waitPolicy } = setting;
  const env = { ...process.env };
  for (const name of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'OMP_WAIT_POLICY']) delete env[name];
  if (blasThreads !== null) Object.assign(env, { OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(blasThreads) });
  if (waitPolicy) env.OMP_WAIT_POLICY = waitPolicy;
  const args = [
    fileURLToPath(new URL('./pytorch_kd.py', import.meta.url)),
    ...['--threads', String(threads), '--steps', String(settings.pytorchSteps), '--repeats', String(settings.pytorchRepeats)],
    ...['--label-rows', String(settings.labelRows), '--batch', String(settings.batchSize), '--temperature', String(settings.temperature)],
    ...['--alpha', String(settings.alpha), '--lr', String(settings.learningRate)],
    ...['--cnn-filters', settings.cnnModel.replace(/^cnn:/, '')],
  ];
  return { command: '/usr/bin/python3', args, env };
}
