import { spawn, spawnSync } from 'node:child_process';
import { expect } from 'vitest';

/** The compiled CLI the tests run, as users do. */
export const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

/** How a CLI process ended, and what it printed. */
export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A short run on the bundled digits, for tests about the CLI rather than about what it trains. */
export const SMALL_DIGITS_RUN = [
  '--data',
  'mnist',
  '--limit',
  '300',
  '--teacher-arch',
  'mlp:16',
  '--teacher-epochs',
  '1',
  '--student-arch',
  'mlp:8',
  '--epochs',
  '1',
  '--workers',
  '2',
  // Three steps leave the teacher near chance: these runs are about the CLI, not the teacher.
  '--allow-weak-teacher',
];

interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs the real CLI to its end, from `cwd` with `env` added to this process's environment; a hang fails the
 * test through the timeout instead of hanging the suite.
 */
export function runCli(args: string[], { cwd, env = {} }: CliOptions = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  expect(result.error).toBeUndefined(); // no timeout: the process ended by itself
  return result;
}

/**
 * {@link runCli} without blocking this thread, so that independent commands can run side by side: a command
 * that fails early spends most of its time loading modules on one core, and the other core would sit idle.
 */
export function runCliAsync(args: string[], { cwd, env = {} }: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // As runCli's timeout: a hang fails the test, not with a status that a test may expect.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tfjs-distill ${args.join(' ')} did not end in 120 s:\n${stderr}`));
    }, 120_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
