import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, errorLine, until } from './helpers/queue-processes.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;
const flags = (tokenizer: string) => [
  'run',
  '--data',
  `text:${SPAM}`,
  '--tokenizer',
  tokenizer,
  '--max-length',
  '64',
  '--augment',
  'mask:0.1,ngram:0.25',
  '--augment-copies',
  '2',
  '--teacher-arch',
  'cnn1d:16,32',
  '--teacher-epochs',
  '2',
  '--student-arch',
  'bag:16',
  '--epochs',
  '8',
  '--labeled',
  '100',
  '--baseline',
  '--batch-size',
  '32',
  '--workers',
  '2',
  '--checkpoint-every',
  '5',
];
const TOLERANCE = 1e-5;

async function weights(out: string, model: string): Promise<Float32Array> {
  const bytes = await readFile(join(out, model, 'weights.bin'));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** Starts a run into `out` and SIGKILLs it once the student's first checkpoint is written. */
async function killedDuringDistillation(out: string, tokenizer: string): Promise<void> {
  const cli = new Cli([...flags(tokenizer), '--out', out]);
  await until(() => existsSync(join(out, '.checkpoint', 'student.ckpt')) || cli.exit !== undefined, 'the student checkpoint', 120_000);
  cli.child.kill('SIGKILL');
  const exit = await cli.exited;
  expect(exit.status, `the run ended before the kill: ${exit.stderr}`).toBeNull();
}

describe('checkpoint and resume of a text run (augmented transfer set, a teacher the run trains)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'text-resume-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a run killed during distillation and resumed ends with the weights of an uninterrupted run', async () => {
    const reference = join(dir, 'reference');
    const whole = await new Cli([...flags(TOKENIZER_DIRS.unigram), '--out', reference]).exited;
    expect(whole.status, whole.stderr).toBe(0);

    const out = join(dir, 'resumed');
    await killedDuringDistillation(out, TOKENIZER_DIRS.unigram);
    const resumed = await new Cli([...flags(TOKENIZER_DIRS.unigram), '--out', out, '--resume']).exited;
    expect(resumed.status, resumed.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.resumed).toEqual(expect.arrayContaining(['teacher', 'label', expect.stringMatching(/^student from step \d+$/)]));
    expect(report.data.trainRows).toBe(960); // 320 e-mails and 2 copies of each
    expect(report.config).toMatchObject({ augment: { mask: 0.1, ngram: 0.25 }, augmentCopies: 2 });
    for (const model of ['teacher', 'student', 'baseline']) {
      const [a, b] = [await weights(reference, model), await weights(out, model)];
      expect(b.length).toBe(a.length);
      expect(a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i])), 0)).toBeLessThanOrEqual(TOLERANCE);
    }
    expect(existsSync(join(out, '.checkpoint'))).toBe(false);
  });

  it('refuses to resume with another tokenizer file, even one that gives the same ids', async () => {
    const out = join(dir, 'other-tokenizer');
    await killedDuringDistillation(out, TOKENIZER_DIRS.unigram);
    const copy = join(dir, 'tokenizer');
    await cp(TOKENIZER_DIRS.unigram, copy, { recursive: true });
    const configFile = join(copy, 'tokenizer_config.json');
    await writeFile(configFile, `${JSON.stringify(JSON.parse(await readFile(configFile, 'utf8')), null, 4)}\n`);
    const refused = await new Cli([...flags(copy), '--out', out, '--resume']).exited;
    expect(errorLine(refused)).toMatch(/cannot resume from .*: this run differs from the checkpointed one in .*trainData/);
  });
});
