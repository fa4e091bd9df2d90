#!/usr/bin/env node
import * as tf from '@tensorflow/tfjs';
import { DistillCancelledError, DistillError, messageOf } from '../errors.js';
import { type FileSettings, asksForHelp, flagHelp, inFlagTerms, parseRunFlags } from './flags.js';
import { runCommand } from './run.js';
import { checkSettings, givenSettings } from './run-config.js';

const EXAMPLES = `Examples:
  tfjs-distill run --data mnist --labeled 1000 --baseline
  tfjs-distill run --data idx:/usr/share/datasets/fashion-mnist --teacher runs/fmnist/teacher --labeled 2000 --baseline
  tfjs-distill run --config run.yaml --epochs 20          the file's settings, with 20 epochs
  tfjs-distill run --config runs/x/report.json --out runs/x-again   the same run again
`;

const USAGE = `tfjs-distill: knowledge distillation for TensorFlow.js on all cores

Usage:
  tfjs-distill run [flags]     train or load a teacher, distil a student, evaluate both
  tfjs-distill run --help      the flags of run
  tfjs-distill --help          this help

Flags of run:
${flagHelp()}

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
  if (command !== 'run') throw new DistillError(`unknown command '${command}'; use tfjs-distill run (see tfjs-distill --help)`);
  if (asksForHelp(rest)) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  const run = await givenSettings(parseRunFlags(rest));
  fromFile = run.fromFile;
  const settings = checkSettings(run.given);
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
  await runCommand(settings, cancel.signal);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const known = error instanceof DistillError;
    const message = known ? inFlagTerms(error, fromFile) : messageOf(error);
    process.stderr.write(error instanceof DistillCancelledError ? `tfjs-distill: ${message}\n` : `tfjs-distill: error: ${message}\n`);
    if (!known || process.env.TFJS_DISTILL_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    process.exitCode = error instanceof DistillCancelledError ? 130 : 1;
  },
);
