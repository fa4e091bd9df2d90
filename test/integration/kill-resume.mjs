#!/usr/bin/env node
// Integration check of checkpoint/resume with real CLI processes (run by .ci/run after npm test):
// 1. a reference run, uninterrupted;
// 2. the same run, killed with SIGKILL during teacher training, resumed with --resume, stopped with
//    SIGTERM during distillation, and resumed again to the end.
// The resumed run must end with the reference's weights (to float tolerance) and leave no checkpoint.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const FLAGS = [
  'run',
  '--data',
  'mnist',
  '--limit',
  '2000',
  '--teacher-arch',
  'mlp:64',
  '--teacher-epochs',
  '3',
  '--student-arch',
  'mlp:16',
  '--epochs',
  '4',
  '--baseline',
  '--workers',
  '2',
  '--batch-size',
  '64',
  '--checkpoint-every',
  '4',
];
const TOLERANCE = 1e-5;

function fail(message) {
  console.error(`kill-resume: FAILED: ${message}`);
  process.exit(1);
}

/** Runs the CLI; `until` (optional) is polled, and when it holds the process gets `signal`. */
function runCli(out, extra = [], { until, signal } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...FLAGS, '--out', out, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.resume();
    const timer =
      until &&
      setInterval(() => {
        if (until()) {
          clearInterval(timer);
          child.kill(signal);
        }
      }, 20);
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code, killedBy) => {
      if (timer) clearInterval(timer);
      clearTimeout(watchdog);
      resolve({ code, killedBy, stderr });
    });
  });
}

async function weights(out, model) {
  const bytes = await readFile(join(out, model, 'weights.bin'));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

const dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-kill-resume-'));
try {
  const reference = join(dir, 'reference');
  const started = Date.now();
  const uninterrupted = await runCli(reference);
  if (uninterrupted.code !== 0) fail(`the reference run failed: ${uninterrupted.stderr}`);
  console.log(`kill-resume: reference run done in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const out = join(dir, 'resumed');
  const checkpoint = (name) => join(out, '.checkpoint', name);
  const killed = await runCli(out, [], { until: () => existsSync(checkpoint('teacher.ckpt')), signal: 'SIGKILL' });
  if (killed.killedBy !== 'SIGKILL') fail(`the first run was not killed during teacher training (exit ${killed.code}): ${killed.stderr}`);
  console.log(
    `kill-resume: SIGKILL during teacher training; checkpoint holds ${(await readdir(join(out, '.checkpoint'))).sort().join(', ')}`,
  );

  const stopped = await runCli(out, ['--resume'], { until: () => existsSync(checkpoint('student.ckpt')), signal: 'SIGTERM' });
  const last = stopped.stderr.trim().split('\n').at(-1);
  if (
    stopped.code !== 130 ||
    !/^tfjs-distill: cancelled during student training at step \d+ of \d+; its state is checkpointed; .*--resume/.test(last)
  ) {
    fail(`SIGTERM during distillation should exit 130 saying how to resume; got exit ${stopped.code}: ${last}`);
  }
  console.log(`kill-resume: SIGTERM during distillation: ${last}`);

  const finished = await runCli(out, ['--resume']);
  if (finished.code !== 0) fail(`the final resume failed: ${finished.stderr}`);
  if (existsSync(join(out, '.checkpoint'))) fail('the checkpoint folder was left behind after a complete run');
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  if (
    !report.resumed.includes('teacher') ||
    !report.resumed.includes('label') ||
    !report.resumed.some((r) => r.startsWith('student from step'))
  ) {
    fail(`report.resumed does not say what was reused: ${JSON.stringify(report.resumed)}`);
  }
  for (const model of ['teacher', 'student', 'baseline']) {
    const [a, b] = [await weights(reference, model), await weights(out, model)];
    if (a.length !== b.length) fail(`${model}: ${a.length} weights against ${b.length}`);
    const diff = a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i])), 0);
    if (!(diff <= TOLERANCE)) fail(`${model}: the resumed weights differ from the reference by up to ${diff}`);
    console.log(`kill-resume: ${model} weights match the uninterrupted run (max |diff| ${diff.toExponential(2)})`);
  }
  console.log(`kill-resume: passed (resumed: ${report.resumed.join(', ')})`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
