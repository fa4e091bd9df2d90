import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

/** The compiled CLI the tests run, as users do. */
export const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

/**
 * Runs the real CLI to its end, from `cwd` with `env` added to this process's environment; a hang fails the
 * test through the timeout instead of hanging the suite.
 */
export function runCli(args: string[], { cwd, env = {} }: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  expect(result.error).toBeUndefined(); // no timeout: the process ended by itself
  return result;
}
