import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { expect } from 'vitest';
import { CLI } from './cli.js';

// CI sets TFJS_DISTILL_REQUIRE_REDIS so that a missing redis-server fails these tests instead of skipping them.
export const hasRedis = spawnSync('redis-server', ['--version']).status === 0 || process.env.TFJS_DISTILL_REQUIRE_REDIS === '1';

export interface Exit {
  status: number | null;
  stdout: string;
  stderr: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs` with `what`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A CLI process, its output gathered as it comes. */
export class Cli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
    this.child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, cwd });
    this.child.stdout!.on('data', (chunk) => (this.stdout += chunk));
    this.child.stderr!.on('data', (chunk) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (status) => {
        this.exit = { status, stdout: this.stdout, stderr: this.stderr };
        resolve(this.exit);
      }),
    );
  }

  /** Resolves once stdout (or stderr) matches `pattern`; fails if the process ends first. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
    await until(
      () => {
        if (pattern.test(this[stream])) return true;
        if (this.exit) throw new Error(`process ended before ${pattern}: ${this.stdout}\n${this.stderr}`);
        return false;
      },
      `${pattern} in ${stream}:\n${this.stdout}\n${this.stderr}`,
      timeoutMs,
    );
  }

  /** Sends `signal` and resolves with the exit and the milliseconds it took; fails after `timeoutMs`. */
  async stop(signal: NodeJS.Signals, timeoutMs = 15_000): Promise<Exit & { ms: number }> {
    const sent = performance.now();
    this.child.kill(signal);
    await until(() => this.exit !== undefined, `the process to exit on ${signal}:\n${this.stdout}\n${this.stderr}`, timeoutMs);
    return { ...this.exit!, ms: performance.now() - sent };
  }

  /** Lines of stdout and stderr matching `pattern`. */
  lines(pattern: RegExp): string[] {
    return `${this.stdout}\n${this.stderr}`.split('\n').filter((line) => pattern.test(line));
  }
}

/** The last stderr line of a failed command: exactly one error line, no stack. */
export function errorLine(result: Exit): string {
  expect(result.status).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines.filter((line) => /^\s+at /.test(line))).toEqual([]);
  return lines[lines.length - 1];
}

/** A free loopback port (closed again, so redis-server can take it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A redis-server without persistence on a loopback port: killed, it comes back empty. */
export async function startRedis(port: number, password?: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const redis = spawn('redis-server', password ? [...args, '--requirepass', password] : args);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    redis.stdout!.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) resolve();
    });
    redis.on('exit', () => reject(new Error(`redis-server exited: ${output}`)));
  });
  return redis;
}

/** Kills a redis-server at once (no shutdown: what a crash or an OOM kill does) and waits for it to be gone. */
export async function killRedis(redis: ChildProcess): Promise<void> {
  if (redis.exitCode !== null || redis.signalCode !== null) return;
  const gone = new Promise((resolve) => redis.once('exit', resolve));
  redis.kill('SIGKILL');
  await gone;
}

/**
 * A store file in three parts: the magic, the header without labelSeconds, and every byte after the
 * header (the rows and the SHA-256 trailer). Stores of the same rows agree on all three; only the
 * labelling time in the header tells two runs apart.
 */
export async function storeParts(file: string) {
  const bytes = await readFile(file);
  const headerBytes = bytes.readUInt32LE(8);
  const { labelSeconds, ...header } = JSON.parse(bytes.toString('utf8', 12, 12 + headerBytes));
  expect(labelSeconds).toBeGreaterThanOrEqual(0);
  return { magic: bytes.toString('ascii', 0, 8), header, body: bytes.subarray(12 + headerBytes) };
}

/** Two stores hold the same rows, bit for bit, under the same key and encoding. */
export async function expectSameBytes(file: string, reference: string): Promise<void> {
  const [a, b] = [await storeParts(file), await storeParts(reference)];
  expect(a.magic).toBe('TFDSOFT1');
  expect(a.header).toEqual(b.header);
  expect(a.body.equals(b.body)).toBe(true);
}
