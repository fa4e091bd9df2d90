import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FLAGS, flagHelp } from '../dist/cli/flags.js';
import { DEFAULTS, TEXT_DEFAULTS, resolveConfig } from '../dist/options/options.js';
import { TEXT_DEMO_FLAGS } from '../scripts/text-demo.mjs';
import { runCliAsync } from './helpers/cli.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

/** 400 real SpamAssassin e-mails, half spam, shuffled (test/fixtures/text/make-spam-jsonl.mjs). */
const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;

/** Rows of two features; `tokens` marks them as token ids (what a text source loads carries it). */
function rows(text: boolean) {
  const data = { x: new Float32Array(8), y: new Int32Array([0, 1, 0, 1]), shape: [4, 2], numClasses: 2 };
  return text ? { ...data, tokens: { tokenizer: 'fixture', maxLength: 2, vocabSize: 10, padId: 0, padTypeId: 0, template: [] } } : data;
}

describe('text defaults', () => {
  it('distill() takes the text defaults for token-id rows only, and never over a given value', () => {
    // Resolving reads no model: the paths are only checked to be given.
    const models = { teacher: 'teacher/model.json', student: 'student/model.json' };
    const text = { ...models, train: rows(true), test: rows(true) } as never;
    expect(TEXT_DEFAULTS).toEqual({ epochs: 5, batchSize: 32, optimizer: { name: 'adam', learningRate: 0.01 } });
    expect(resolveConfig(text)).toMatchObject(TEXT_DEFAULTS);
    const images = resolveConfig({ ...models, train: rows(false), test: rows(false) } as never);
    expect(images).toMatchObject({ epochs: DEFAULTS.epochs, batchSize: DEFAULTS.batchSize, optimizer: DEFAULTS.optimizer });
    expect(DEFAULTS).toMatchObject({ epochs: 3, batchSize: 128, optimizer: { learningRate: 0.001 } });
    const given = resolveConfig({ ...(text as object), epochs: 2, batchSize: 64, optimizer: { learningRate: 0.002 } } as never);
    expect(given).toMatchObject({ epochs: 2, batchSize: 64, optimizer: { name: 'adam', learningRate: 0.002 } });
    // A given optimizer without a rate keeps the text rate, as it keeps 1e-3 elsewhere.
    expect(resolveConfig({ ...(text as object), optimizer: { name: 'sgd' } } as never).optimizer).toEqual({
      name: 'sgd',
      learningRate: 0.01,
    });
  });

  it('a text run with every row labelled takes both kinds of data-dependent default, each only where it holds', () => {
    const models = { teacher: 'teacher/model.json', student: 'student/model.json' };
    const text = rows(true);
    const allLabelled = resolveConfig({ ...models, train: text, test: text } as never);
    expect(allLabelled).toMatchObject({ batchSize: 32, epochs: 5, temperature: 1, alpha: 0.5 });
    expect(allLabelled.optimizer).toEqual({ name: 'adam', learningRate: 0.01 });
    // One of the four rows keeps its label: still text, no longer mostly labelled.
    const transferSet = resolveConfig({ ...models, train: text, test: text, labeled: 1 } as never);
    expect(transferSet).toMatchObject({ batchSize: 32, temperature: DEFAULTS.temperature, alpha: DEFAULTS.alpha });
    expect(DEFAULTS).toMatchObject({ temperature: 4, alpha: 0.9 });
    // Image rows, every one labelled: the labelled defaults without the text ones.
    const images = resolveConfig({ ...models, train: rows(false), test: rows(false) } as never);
    expect(images).toMatchObject({ batchSize: 128, temperature: 1, alpha: 0.5 });
  });

  it('--help says both defaults', () => {
    const help = flagHelp(RUN_FLAGS);
    expect(help).toMatch(/--batch-size N .*\(default: 128, 32 for text; key: batchSize\)/);
    expect(help).toMatch(/--lr RATE .*\(default: 0\.001, 0\.01 for text; key: optimizer\.learningRate\)/);
    expect(help).toMatch(/--epochs N .*\(default: 3, 5 for text; key: epochs\)/);
    expect(help).toMatch(/--optimizer NAME .*\(default: adam; key: optimizer\.name\)/);
  });
});

// The two runs are independent: side by side, one's start-up overlaps the other's training.
describe.concurrent('the CLI on text with no training flags', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'text-defaults-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const data = ['--data', `text:${SPAM}`, '--tokenizer', TOKENIZER_DIRS.unigram, '--max-length', '32', '--limit', '160'];
  const models = ['--teacher-arch', 'bag:8', '--teacher-epochs', '1', '--student-arch', 'bag:8', '--workers', '2'];
  const run = async (out: string, ...more: string[]) => {
    const result = await runCliAsync(['run', ...data, ...models, '--out', out, ...more]);
    expect(result.status, result.stderr).toBe(0);
    return JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  };
  const stepsOf = (report: { phases: { phase: string; steps: number }[] }, phase: string) =>
    report.phases.find((entry) => entry.phase === phase)?.steps;

  it('trains with the text defaults, which report.json shows', async () => {
    const report = await run(join(dir, 'defaults'));
    expect(report.config).toMatchObject({ batchSize: 32, epochs: 5, optimizer: { name: 'adam', learningRate: 0.01 } });
    // The student's steps are those of batches of 32 over 5 epochs: the defaults are used, not only reported.
    expect(stepsOf(report, 'student')).toBe(Math.ceil(report.data.trainRows / 32) * 5);
    expect(stepsOf(report, 'teacher')).toBe(Math.ceil(report.data.trainRows / 32));
  });

  it('a flag or a config value wins over a text default', async () => {
    const config = join(dir, 'run.yaml');
    await writeFile(config, 'epochs: 2\noptimizer:\n  learningRate: 0.002\nbatchSize: 16\n');
    const report = await run(join(dir, 'given'), '--config', config, '--batch-size', '64');
    expect(report.config).toMatchObject({ batchSize: 64, epochs: 2, optimizer: { name: 'adam', learningRate: 0.002 } });
    expect(stepsOf(report, 'student')).toBe(Math.ceil(report.data.trainRows / 64) * 2);
  });
});

describe('npm run demo:text', () => {
  it('is the demo script, whose run takes a few hundred labels, the baseline and the text defaults', () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(scripts['demo:text']).toBe('node scripts/text-demo.mjs');
    expect(TEXT_DEMO_FLAGS).toEqual(expect.arrayContaining(['--labeled', '200', '--baseline']));
    for (const flag of ['--batch-size', '--lr', '--epochs', '--teacher-arch', '--student-arch', '--teacher-epochs'])
      expect(TEXT_DEMO_FLAGS).not.toContain(flag);
  });

  it('runs end to end on the corpus it writes, shortened by the flags given after it', async () => {
    const out = await mkdtemp(join(tmpdir(), 'demo-text-'));
    try {
      const short = ['--limit', '400', '--teacher-epochs', '1', '--epochs', '1', '--workers', '2', '--out', out];
      const demo = spawnSync(process.execPath, [join(ROOT, 'scripts/text-demo.mjs'), ...short], { encoding: 'utf8', timeout: 120_000 });
      expect(demo.error).toBeUndefined();
      expect(demo.status, demo.stderr).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
      expect(report.config).toMatchObject({ labeled: 200, baseline: true, batchSize: 32, student: 'bag:32', teacher: 'cnn1d:64,128' });
      expect(report.data).toMatchObject({ trainRows: 400, testRows: 1000, classes: ['ham', 'spam'] });
      expect(demo.stdout).toMatch(/^test accuracy +[\d.]+% +[\d.]+% +[\d.]+%$/m); // teacher, student, baseline
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
