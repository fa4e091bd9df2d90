import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../dist/index.js';
import { CLI, SMALL_DIGITS_RUN as SMALL, runCli } from './helpers/cli.js';

let dir: string;

/** Runs the real CLI; a hang fails the test through the timeout instead of hanging the suite. */
function cli(...args: string[]) {
  return cliWithEnv({}, ...args);
}

/** The CLI with `env` added to this process's environment. */
function cliWithEnv(env: NodeJS.ProcessEnv, ...args: string[]) {
  return runCli(args, { env });
}

describe('the CLI', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-cli-'));
  });

  it('--help lists the run flags', () => {
    const result = cli('--help');
    expect(result.status).toBe(0);
    for (const flag of ['--data', '--labeled', '--teacher-arch', '--workers', '--temperature', '--alpha', '--baseline', '--out']) {
      expect(result.stdout).toContain(flag);
    }
  });

  it('a run on the bundled digits writes the models and the report, and prints the table', async () => {
    const out = join(dir, 'mnist-out');
    const result = cli(
      'run',
      '--data',
      'mnist',
      '--limit',
      '1000',
      '--labeled',
      '300',
      '--teacher-arch',
      'mlp:32',
      '--teacher-epochs',
      '3',
      '--student-arch',
      'mlp:8',
      '--epochs',
      '5',
      '--lr',
      '0.005',
      '--batch-size',
      '64',
      '--workers',
      '2',
      '--baseline',
      '--kernels',
      'wasm',
      '--out',
      out,
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/test accuracy\s+\d+\.\d+%\s+\d+\.\d+%\s+\d+\.\d+%/);
    expect(result.stdout).toMatch(/backend wasm \(wasm kernels\), 2 workers/);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.backend).toBe('wasm');
    expect(report.kernels).toBe('wasm');
    expect(report.data).toMatchObject({ trainRows: 1000, labeledRows: 300, teacherLabeledRows: 1000, testRows: 2004 });
    expect(report.config).toMatchObject({ data: 'mnist', teacher: 'mlp:32', student: 'mlp:8', labeled: 300, baseline: true });
    expect(report.student.accuracy).toBeGreaterThan(0.5);
    expect(Object.keys(report.throughput)).toEqual(
      expect.arrayContaining([
        'labelSamplesPerSec',
        'trainSamplesPerSec',
        'teacherTrainSamplesPerSec',
        'baselineTrainSamplesPerSec',
        'setupSeconds',
      ]),
    );
    for (const name of ['teacher', 'student', 'baseline']) {
      const loaded = await loadModel(join(out, name));
      expect(loaded.outputs[0].shape).toEqual([null, 10]);
    }
    expect((await readdir(out)).filter((name) => name.startsWith('.partial'))).toEqual([]);
    // The page next to report.json, named in the last line (test/report-html.test.ts checks what it shows).
    expect(result.stdout).toContain(`${join(out, 'report.html')} and ${join(out, 'report.json')}\n`);
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain(
      `data-model="student" data-metric="accuracy" data-value="${report.student.accuracy}"`,
    );
  });

  it('without OpenBLAS, auto kernels fall back to the wasm set with a notice', async () => {
    const out = join(dir, 'no-openblas');
    const result = cliWithEnv({ TFJS_DISTILL_OPENBLAS: '/nonexistent/libopenblas.so.0' }, 'run', ...SMALL, '--out', out);
    expect(result.status).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.kernels).toBe('wasm');
    expect(report.config.kernels).toBe('auto');
    expect(report.notices.join('\n')).toMatch(
      /wasm backend: (OpenBLAS unavailable: \/nonexistent\/libopenblas\.so\.0|native kernels unavailable).*; using the wasm kernels/,
    );
  });

  it('Ctrl-C stops the run at the next step, checkpoints it, exits with 130, writes no outputs and says how to resume', async () => {
    const out = join(dir, 'interrupted');
    const child = spawn(process.execPath, [CLI, 'run', ...SMALL, '--epochs', '500', '--out', out]);
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (stderr.includes('distilling student') && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(130);
    expect(stderr.trim().split('\n').at(-1)).toMatch(
      /^tfjs-distill: cancelled during student training at step \d+ of 1500; its state is checkpointed; no outputs were written; rerun the same command with --resume to continue from the checkpoint in .*interrupted\/\.checkpoint$/,
    );
    expect((await readdir(join(out, '.checkpoint'))).sort()).toEqual(['run.json', 'soft-labels.bin', 'student.ckpt', 'teacher.ckpt']);
    expect(existsSync(join(out, 'report.json'))).toBe(false);
    expect(existsSync(join(out, 'student'))).toBe(false);
  });

  it('a CSV run end to end, with a held-out split', async () => {
    // Three separable blobs in 4 features, with a header row.
    const lines = ['label,a,b,c,d'];
    for (let i = 0; i < 600; i++) {
      const c = i % 3;
      const jitter = (k: number) => (Math.sin(i * 12.9898 + k * 78.233) * 43758.5453) % 1;
      lines.push([c, c * 2 + jitter(1), -c + jitter(2), jitter(3), c + jitter(4)].join(','));
    }
    const csv = join(dir, 'blobs.csv');
    await writeFile(csv, lines.join('\n'));
    const out = join(dir, 'csv-out');
    const result = cli(
      'run',
      '--data',
      `csv:${csv}`,
      '--test-fraction',
      '0.25',
      '--teacher-arch',
      'mlp:16',
      '--teacher-epochs',
      '20',
      '--student-arch',
      'mlp:4',
      '--epochs',
      '20',
      '--batch-size',
      '32',
      '--lr',
      '0.01',
      '--workers',
      '2',
      '--out',
      out,
    );
    expect(result.status).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.data).toMatchObject({ trainRows: 450, testRows: 150, numClasses: 3, featureShape: [4] });
    expect(report.teacher.accuracy).toBeGreaterThan(0.9);
    expect(report.student.accuracy).toBeGreaterThan(0.9);
  });
});
