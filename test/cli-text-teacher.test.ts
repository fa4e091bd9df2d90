import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliAsync } from './helpers/cli.js';
import { writeBertUncased } from './helpers/tokenizer-fixtures.js';

/** A BERT-style classifier trained and exported by examples/text-teacher/, in the Hugging Face layout. */
const TEACHER = new URL('./fixtures/text-teacher', import.meta.url).pathname;
/** 400 real SpamAssassin e-mails, half spam: the teacher's test set in PyTorch. */
const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;

const cli = (...args: string[]) => runCli(['run', ...args]);
const lastLine = (result: { stderr: string }) => result.stderr.trim().split('\n').at(-1);

describe('the CLI with a Hugging Face ONNX text teacher', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-text-teacher-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reaches PyTorch's test accuracy: its tokenizer, class order (id2label) and positions come from the folder", async () => {
    const out = join(dir, 'accuracy');
    const result = cli(
      ...['--data', `text:${SPAM}`, '--test-data', `text:${SPAM}`, '--teacher', TEACHER, '--limit', '64'],
      ...['--student-arch', 'bag:8', '--epochs', '1', '--workers', '2', '--out', out],
    );
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    const pytorch = JSON.parse(await readFile(join(TEACHER, 'pytorch-test.json'), 'utf8'));
    expect(report.data).toMatchObject({ testRows: 400, classes: ['spam', 'ham'], featureShape: [128] });
    expect(report.config).toMatchObject({ tokenizer: TEACHER, maxLength: 128, teacher: TEACHER });
    expect(report.teacherRuntime).toBe('onnxruntime');
    expect(Math.abs(report.teacher.accuracy - pytorch.testAccuracy)).toBeLessThanOrEqual(0.005);
    expect(report.notices.join('\n')).not.toMatch(/sorted labels/);
  });

  it('distils the transformer into a bag student on real e-mails: both well above chance, and the baseline', async () => {
    const out = join(dir, 'distil');
    const result = cli(
      ...['--data', `text:${SPAM}`, '--teacher', TEACHER, '--student-arch', 'bag:32', '--labeled', '100', '--baseline'],
      ...['--epochs', '8', '--batch-size', '32', '--lr', '0.01', '--workers', '2', '--out', out],
    );
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.data).toMatchObject({ trainRows: 320, testRows: 80, classes: ['spam', 'ham'] });
    expect(JSON.parse(await readFile(join(out, 'student', 'classes.json'), 'utf8'))).toEqual(['spam', 'ham']);
    // Chance is 0.5 on these 80 test e-mails; the bounds are well below what seed 1 measured.
    expect(report.teacher.accuracy).toBeGreaterThan(0.85);
    expect(report.student.accuracy).toBeGreaterThan(0.8);
    expect(report.baseline.accuracy).toBeGreaterThan(0.7);
  });

  it('label: the folder teacher labels in shards that merge into the store of one run, byte for byte', async () => {
    const data = ['--data', `text:${SPAM}`, '--teacher', TEACHER, '--workers', '2'];
    const whole = join(dir, 'whole.sl');
    const parts = join(dir, 'parts.sl');
    // The whole store and the shards are independent: they run side by side.
    const [labelled, ...shardRuns] = await Promise.all([
      runCliAsync(['label', ...data, '--soft-labels', whole]),
      ...['0/2', '1/2'].map((shard) => runCliAsync(['label', ...data, '--soft-labels', parts, '--shard', shard])),
    ]);
    expect(labelled.status).toBe(0);
    for (const result of shardRuns) expect(result.status, result.stderr).toBe(0);
    const shards = ['0/2', '1/2'].map((shard) => `${parts}.shard-${shard.replace('/', '-of-')}`);
    expect(runCli(['merge', parts, ...shards]).status).toBe(0);
    const [a, b] = [await readFile(whole), await readFile(parts)];
    const headerEnd = (bytes: Buffer) => 12 + bytes.readUInt32LE(8);
    // The rows and their checksum are identical; the header's time differs.
    expect(b.subarray(headerEnd(b))).toEqual(a.subarray(headerEnd(a)));
  });

  it('bad input: one line naming the flag and the fix, exit 1, no report', async () => {
    // The graph alone (no config.json) with three classes of labels: the output count differs.
    const alone = join(dir, 'alone.onnx');
    await copyFile(join(TEACHER, 'model.onnx'), alone);
    const three = join(dir, 'three.jsonl');
    const lines = (await readFile(SPAM, 'utf8')).trim().split('\n').slice(0, 60);
    await writeFile(three, lines.map((line, i) => `${JSON.stringify({ ...JSON.parse(line), label: 'abc'[i % 3] })}\n`).join(''));
    const bert = writeBertUncased(await mkdtemp(join(dir, 'bert-')));
    const spam = ['--data', `text:${SPAM}`, '--teacher', TEACHER];
    const cases: [string[], RegExp][] = [
      [
        [...spam, '--max-length', '256'],
        /^tfjs-distill: error: --max-length 256 is beyond the teacher's 128 positions \(max_position_embeddings in .*config\.json\); give --max-length 128 or less$/,
      ],
      [
        [...spam, '--classes', 'ham,spam'],
        /--classes ham,spam differ from the teacher's id2label spam,ham \(config\.json\); drop --classes$/,
      ],
      [
        [...spam, '--tokenizer', bert],
        /row \d+ holds token id \d+, beyond the 4323 ids of the ONNX teacher .*model\.onnx's embedding \(.*has 30522\); give --tokenizer the teacher's own tokenizer\.json$/,
      ],
      [
        ['--data', `text:${three}`, '--teacher', alone, '--tokenizer', TEACHER],
        /output 'logits' has shape \[batch_size,2\], but the data has 3 classes; give a teacher whose output is \[batch, 3\] \(or pick another output with --teacher-output\)$/,
      ],
      [
        ['--data', `text:${SPAM}`, '--teacher', join(TEACHER, '../onnx/two_inputs.onnx'), '--tokenizer', TEACHER, '--max-length', '32'],
        /has an input 'a' that text rows cannot fill \(tfjs-distill fills input_ids, attention_mask and token_type_ids\)/,
      ],
    ];
    // The cases fail in their set-up, independently: they run side by side.
    await Promise.all(
      cases.map(async ([args, message], index) => {
        const out = join(dir, `never-${index}`);
        const result = await runCliAsync(['run', ...args, '--workers', '2', '--out', out]);
        expect(result.status, args.join(' ')).toBe(1);
        expect(lastLine(result), args.join(' ')).toMatch(message);
        await expect(readFile(join(out, 'report.json'))).rejects.toThrow();
      }),
    );
  });
});
