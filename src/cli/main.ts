#!/usr/bin/env node
import * as tf from '@tensorflow/tfjs';
import { DistillCancelledError, DistillError, messageOf } from '../errors.js';
import { flagHelp, inFlagTerms, parseRunFlags } from './flags.js';
import { runCommand } from './run.js';

const USAGE = `tfjs-distill: knowledge distillation for TensorFlow.js on all cores

Usage:
  tfjs-distill run [flags]     train or load a teacher, distil a student, evaluate both
  tfjs-distill --help          this help

Flags of run:
${flagHelp()}

Examples:
  tfjs-distill run --data mnist --labeled 1000 --baseline
  tfjs-distill run --data idx:/usr/share/datasets/fashion-mnist --teacher runs/fmnist/teacher --labeled 2000 --baseline
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'run') throw new DistillError(`unknown command '${command}'; use tfjs-distill run (see tfjs-distill --help)`);
  const flags = parseRunFlags(rest);
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // The main thread only builds, loads and saves models; the work runs in the workers.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');

  // First Ctrl-C: stop at the next step and exit cleanly; a second one exits at once.
  const cancel = new AbortController();
  const onSignal = () => {
    if (cancel.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping at the next step (Ctrl-C again to quit at once)\n');
    cancel.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await runCommand(flags, cancel.signal);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const known = error instanceof DistillError;
    const message = known ? inFlagTerms(error) : messageOf(error);
    process.stderr.write(error instanceof DistillCancelledError ? `tfjs-distill: ${message}\n` : `tfjs-distill: error: ${message}\n`);
    if (!known || process.env.TFJS_DISTILL_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    process.exitCode = error instanceof DistillCancelledError ? 130 : 1;
  },
);
