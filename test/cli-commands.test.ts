import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from './helpers/cli.js';

/** The last line of stderr: a failed command's one-line error. */
const lastLine = (result: { stderr: string }) => result.stderr.trim().split('\n').at(-1);

// Side by side: the cases are short commands that mostly load modules on one core, and one at a time they leave a core idle.
describe.concurrent('label, worker and merge take --config FILE like run, through the same parser and checks', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-commands-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => runCliAsync(args, { cwd: dir });

  it('label --config FILE: the file gives the data, teacher and store (paths relative to it); keys of run are read by run only', async () => {
    // A run's settings: label takes the data, teacher, labelling and runtime keys, and leaves epochs and student to run.
    const yaml = ['data: mnist', 'limit: 300', 'teacher: mlp:8', 'student: mlp:4', 'epochs: 2', 'workers: 1', 'softLabels: digits.sl'];
    await writeFile(join(dir, 'label.yaml'), `${yaml.join('\n')}\n`);
    const shards = await Promise.all(['0/2', '1/2'].map((shard) => cli('label', '--config', 'label.yaml', '--shard', shard)));
    for (const result of shards) {
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^labelled \d+ rows \(shard \d\/2, rows/);
    }
    expect(existsSync(join(dir, 'digits.sl.shard-0-of-2'))).toBe(true);

    // merge --config: the store is the file's softLabels, and every argument is a shard.
    const merged = await cli('merge', '--config', 'label.yaml', 'digits.sl.shard-1-of-2', 'digits.sl.shard-0-of-2');
    expect(merged.status, merged.stderr).toBe(0);
    expect(merged.stdout).toMatch(/^merged 2 shards into .*digits\.sl: 300 rows/);
    expect(existsSync(join(dir, 'digits.sl'))).toBe(true);
    // The whole store again: it already holds these labels.
    const again = await cli('label', '--config', 'label.yaml');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already holds these labels/);
  });

  it("a bad value is named as the file's key, or as the flag that overrides it; unknown keys are refused", async () => {
    await writeFile(join(dir, 'hot.yaml'), 'data: mnist\nlimit: 300\nteacher: mlp:8\nsoftLabels: hot.sl\nworkers: 1\ntemperature: 0\n');
    expect(lastLine(await cli('label', '--config', 'hot.yaml'))).toBe(
      'tfjs-distill: error: hot.yaml: temperature must be a number > 0, got 0',
    );
    expect(lastLine(await cli('label', '--config', 'hot.yaml', '--temperature', '-1'))).toBe(
      'tfjs-distill: error: --temperature must be a number > 0, got -1',
    );
    await writeFile(join(dir, 'typo.yaml'), 'softLabel: x.sl\n');
    expect(lastLine(await cli('label', '--config', 'typo.yaml'))).toBe(
      "tfjs-distill: error: typo.yaml: unknown key 'softLabel'; did you mean 'softLabels'?",
    );
  });

  it('worker --config: the queue and runtime settings from the file, checked before any connection', async () => {
    await writeFile(join(dir, 'worker.yaml'), 'queue: redis://127.0.0.1:1/jobs\nworkers: 0\n');
    expect(lastLine(await cli('worker', '--config', 'worker.yaml'))).toBe(
      'tfjs-distill: error: worker.yaml: workers must be an integer >= 1, got 0',
    );
    await writeFile(join(dir, 'timeout.yaml'), 'queue: redis://127.0.0.1:1/jobs\nqueueTimeoutSeconds: -5\n');
    expect(lastLine(await cli('worker', '--config', 'timeout.yaml'))).toBe(
      'tfjs-distill: error: timeout.yaml: queueTimeoutSeconds must be a number of seconds >= 0 (0: wait for ever), got -5',
    );
    // The flag overrides the file, and the error then names the flag.
    expect(lastLine(await cli('worker', '--config', 'timeout.yaml', '--queue-timeout=-1'))).toBe(
      'tfjs-distill: error: --queue-timeout must be a number of seconds >= 0 (0: wait for ever), got -1',
    );
  });

  it('a computed default that reads the environment is checked when resolved, with a one-line error', async () => {
    const result = await runCliAsync(['worker', '--queue', 'redis://127.0.0.1:1/jobs'], {
      cwd: dir,
      env: { TFJS_DISTILL_KERNELS: 'bogus' },
    });
    expect(result.stderr.trim()).toBe(
      'tfjs-distill: error: TFJS_DISTILL_KERNELS=bogus is not a kernel choice: use one of auto, openblas, wasm',
    );
  });

  it('merge takes OUT and the shards as arguments, and refuses flags it does not know', async () => {
    expect(lastLine(await cli('merge', 'only.sl'))).toBe(
      'tfjs-distill: error: merge needs the store to write and the shards: tfjs-distill merge OUT.sl SHARD...',
    );
    expect(lastLine(await cli('merge', '--epochs', '3', 'a.sl', 'b'))).toBe(
      'tfjs-distill: error: unknown flag --epochs for merge (see tfjs-distill merge --help)',
    );
    const help = await cli('merge', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^tfjs-distill merge: /);
    expect(help.stdout).toContain('--soft-labels FILE');
  });
});
