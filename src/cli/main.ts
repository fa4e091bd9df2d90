#!/usr/bin/env node
import * as tf from '@tensorflow/tfjs';
import { DistillCancelledError, DistillError, messageOf } from '../errors.js';
import { type FileSettings, LABEL_FLAGS, WORKER_FLAGS, asksForHelp, flagHelp, inFlagTerms, parseFlags, parseRunFlags } from './flags.js';
import { labelCommand } from './label.js';
import { mergeCommand } from './merge.js';
import { runCommand } from './run.js';
import { workerCommand } from './worker.js';
import { checkSettings, givenSettings } from './run-config.js';

const EXAMPLES = `Examples:
  tfjs-distill run --data mnist --labeled 1000 --baseline
  tfjs-distill run --data idx:/usr/share/datasets/fashion-mnist --teacher runs/fmnist/teacher --labeled 2000 --baseline
  tfjs-distill run --config run.yaml --epochs 20          the file's settings, with 20 epochs
  tfjs-distill run --config runs/x/report.json --out runs/x-again   the same run again
  tfjs-distill label --data idx:/usr/share/datasets/fashion-mnist --teacher runs/fmnist/teacher --soft-labels fm.sl --shard 0/4
  tfjs-distill merge fm.sl fm.sl.shard-*
  tfjs-distill label --data mnist --teacher runs/demo/teacher --soft-labels digits.sl --queue redis://10.0.0.5:6379/digits
  tfjs-distill worker --queue redis://10.0.0.5:6379/digits
`;

const USAGE = `tfjs-distill: knowledge distillation for TensorFlow.js on all cores

Usage:
  tfjs-distill run [flags]                 train or load a teacher, distil a student, evaluate both
  tfjs-distill run --help                  the flags of run
  tfjs-distill label [flags]               teacher labelling alone, into the soft-label store (or one shard of it)
  tfjs-distill merge OUT.sl SHARD...       join shard files that cover every row once into the store OUT.sl
  tfjs-distill worker --queue URL [flags]  label the jobs of a label --queue coordinator, on this machine
  tfjs-distill --help                      this help

Flags of run:
${flagHelp()}

Flags of label:
${flagHelp(LABEL_FLAGS)}

Flags of worker:
${flagHelp(WORKER_FLAGS)}

${EXAMPLES}`;

const RUN_USAGE = `tfjs-distill run: train or load a teacher, distil a student into it, evaluate both

Usage:
  tfjs-distill run [--config FILE] [flags]

A config file (YAML or JSON) takes the key after each flag below, nested where the key is dotted:
  epochs: 10
  optimizer: { name: sgd, learningRate: 0.05 }
Flags override it. Paths in it are relative to its folder.

Flags:
${flagHelp()}

${EXAMPLES}`;

/** The settings a config file gave, for errors about them (they name the file's keys, not flags). */
let fromFile: FileSettings | undefined;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const commands = ['run', 'label', 'merge', 'worker'];
  if (!commands.includes(command)) {
    throw new DistillError(`unknown command '${command}'; use tfjs-distill ${commands.join(', ')} (see tfjs-distill --help)`);
  }
  if (asksForHelp(rest)) {
    process.stdout.write(command === 'run' ? RUN_USAGE : USAGE);
    return 0;
  }
  if (command === 'merge') {
    await mergeCommand(rest);
    return 0;
  }
  let settings: ReturnType<typeof checkSettings> | undefined;
  if (command === 'run') {
    const run = await givenSettings(parseRunFlags(rest));
    fromFile = run.fromFile;
    settings = checkSettings(run.given);
  }
  // The main thread only builds, loads and saves models; the work runs in the workers.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');

  // First Ctrl-C: stop at the next step and exit cleanly; a second one exits at once.
  const cancel = new AbortController();
  const onSignal = () => {
    if (cancel.signal.aborted) process.exit(130);
    const stopping = command === 'worker' ? 'stopping: running jobs go back to the queue' : 'stopping at the next step';
    process.stderr.write(`\n${stopping} (Ctrl-C again to quit at once)\n`);
    cancel.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (command === 'label') await labelCommand(parseFlags(rest, LABEL_FLAGS, command), cancel.signal);
  else if (command === 'worker') await workerCommand(parseFlags(rest, WORKER_FLAGS, command), cancel.signal);
  else await runCommand(settings!, cancel.signal);
  return 0;
}

/**
 * Once label or worker has returned, the process ends even if a connection to an unreachable Redis still
 * holds a timer: a stopped worker must not linger (the exit normally comes sooner, when nothing is left).
 */
function exitSoon(): void {
  const command = process.argv[2];
  if (command === 'label' || command === 'worker') setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}
const EXIT_GRACE_MS = 1000;

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    exitSoon();
  },
  (error: unknown) => {
    const known = error instanceof DistillError;
    const message = known ? inFlagTerms(error, fromFile) : messageOf(error);
    process.stderr.write(error instanceof DistillCancelledError ? `tfjs-distill: ${message}\n` : `tfjs-distill: error: ${message}\n`);
    if (!known || process.env.TFJS_DISTILL_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    process.exitCode = error instanceof DistillCancelledError ? 130 : 1;
    exitSoon();
  },
);
