#!/usr/bin/env node
import tf from '../tf.cjs';
import { DistillCancelledError, DistillError, messageOf } from '../errors.js';
import { COMMANDS, type CommandName, type CommandSpec } from './commands.js';
import { FLAG_TABLES, type FileSettings, asksForHelp, flagHelp, inFlagTerms, parseCommandLine } from './flags.js';
import { labelCommand } from './label.js';
import { mergeCommand } from './merge.js';
import { type PredictSettings, predictCommand } from './predict.js';
import { runCommand } from './run.js';
import { type SweepSettings, sweepCommand } from './sweep.js';
import { workerCommand } from './worker.js';
import { checkCommandSettings, checkSettings, givenSettings } from './run-config.js';

const EXAMPLES = `Examples:
  tfjs-distill run --data mnist --labeled 1000 --baseline
  tfjs-distill run --data idx:/usr/share/datasets/fashion-mnist --teacher runs/fmnist/teacher --labeled 2000 --baseline
  tfjs-distill run --config run.yaml --epochs 20          the file's settings, with 20 epochs
  tfjs-distill run --config runs/x/report.json --out runs/x-again   the same run again
  tfjs-distill sweep --data mnist --teacher runs/demo/teacher --grid temperature=1,2,4 --grid alpha=0.5,0.9 --out runs/sweep
  tfjs-distill label --data idx:/usr/share/datasets/fashion-mnist --teacher runs/fmnist/teacher --soft-labels fm.sl --shard 0/4
  tfjs-distill merge fm.sl fm.sl.shard-*
  tfjs-distill label --data mnist --teacher runs/demo/teacher --soft-labels digits.sl --queue redis://10.0.0.5:6379/digits
  tfjs-distill worker --queue redis://10.0.0.5:6379/digits
  tfjs-distill predict runs/demo/student --data mnist --model uint8 --out predictions.jsonl
`;

/** A command's help: its usage, how a config file takes the flags' keys, and its flags, generated from the schema. */
function commandHelp(command: CommandSpec): string {
  const positionals = command.positionals ? `\nArguments: ${command.positionals}.\n` : '';
  return `tfjs-distill ${command.name}: ${command.summary}

Usage:
  ${command.usage}
${positionals}
A config file (YAML or JSON; a run's report.json is one) takes the key after each flag below, nested where
the key is dotted; of a file that holds more (a run's settings given to label), the command takes its own keys:
  epochs: 10
  optimizer: { name: sgd, learningRate: 0.05 }
Flags override it. Paths in it are relative to its folder.

Flags:
${flagHelp(FLAG_TABLES[command.name])}

${EXAMPLES}`;
}

const USAGE = `tfjs-distill: knowledge distillation for TensorFlow.js on all cores

Usage:
${Object.values(COMMANDS)
  .map((command) => `  ${command.usage}\n      ${command.summary}`)
  .join('\n')}
  tfjs-distill COMMAND --help              the flags of a command
  tfjs-distill --help                      this help
${Object.values(COMMANDS)
  .map((command) => `\nFlags of ${command.name}:\n${flagHelp(FLAG_TABLES[command.name])}\n`)
  .join('')}
${EXAMPLES}`;

/** The settings a config file gave, for errors about them (they name the file's keys, not flags). */
let fromFile: FileSettings | undefined;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    throw new DistillError(`unknown command '${command}'; use tfjs-distill ${Object.keys(COMMANDS).join(', ')} (see tfjs-distill --help)`);
  }
  const spec = COMMANDS[command as CommandName];
  if (asksForHelp(rest)) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  // One path for every command: its flags, its config file under them, its settings checked.
  const { flags, positionals } = parseCommandLine(rest, spec.name);
  const given = await givenSettings(flags, spec.name);
  fromFile = given.fromFile;
  if (spec.name === 'merge') {
    await mergeCommand(checkCommandSettings(given.given, spec), positionals);
    return 0;
  }
  if (spec.name === 'predict') {
    tf.env().set('PROD', true);
    await predictCommand(checkCommandSettings(given.given, spec) as unknown as PredictSettings, positionals);
    return 0;
  }

  // Checked before any model or backend work: a bad setting fails at once.
  const runSettings = spec.name === 'run' || spec.name === 'sweep' ? checkSettings(given.given) : undefined;
  const settings = checkCommandSettings(given.given, spec);
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
  if (spec.name === 'label') await labelCommand(settings, cancel.signal);
  else if (spec.name === 'worker') await workerCommand(settings, cancel.signal);
  else if (spec.name === 'sweep') await sweepCommand({ ...settings, ...runSettings! } as SweepSettings, cancel.signal);
  else await runCommand(runSettings!, cancel.signal);
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
