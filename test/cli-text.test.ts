import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliAsync } from './helpers/cli.js';
import { TOKENIZER_DIRS } from './helpers/tokenizer-fixtures.js';

/** 400 real SpamAssassin e-mails, half spam, shuffled (test/fixtures/text/make-spam-jsonl.mjs). */
const SPAM = new URL('./fixtures/text/spam.jsonl', import.meta.url).pathname;
const TOKENIZER = TOKENIZER_DIRS.unigram;

const cli = (...args: string[]) => runCli(['run', ...args]);
const lastLine = (result: { stderr: string }) => result.stderr.trim().split('\n').at(-1);

describe('the CLI on text data', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-text-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('distils a cnn1d teacher it trains on real e-mails into a bag student: both well above chance, and the baseline', async () => {
    const out = join(dir, 'spam');
    const result = cli(
      '--data',
      `text:${SPAM}`,
      '--tokenizer',
      TOKENIZER,
      '--max-length',
      '64',
      '--teacher-arch',
      'cnn1d:64,128',
      '--teacher-epochs',
      '2',
      '--student-arch',
      'bag:32',
      '--labeled',
      '100',
      '--baseline',
      '--batch-size',
      '32',
      '--lr',
      '0.01',
      '--workers',
      '2',
      '--out',
      out,
    );
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.data).toMatchObject({ trainRows: 320, testRows: 80, featureShape: [64], numClasses: 2, classes: ['ham', 'spam'] });
    expect(report.notices).toContain('class order from the sorted labels: ham, spam (--classes sets another)');
    expect(result.stdout).toContain('notice: class order from the sorted labels: ham, spam (--classes sets another)');
    expect(report.config).toMatchObject({ tokenizer: TOKENIZER, maxLength: 64, textField: 'text', labelField: 'label', classes: null });
    expect(JSON.parse(await readFile(join(out, 'student', 'classes.json'), 'utf8'))).toEqual(['ham', 'spam']);
    // Chance is 0.5 on these 80 test e-mails; the bounds are the accuracies measured over seeds 1 to 5, less a margin.
    expect(report.teacher.accuracy).toBeGreaterThan(0.85);
    expect(report.student.accuracy).toBeGreaterThan(0.8);
    expect(report.baseline.accuracy).toBeGreaterThan(0.8);
  });

  it('builds cnn1d:64,128 and bag:32 for text unless told otherwise; --classes sets the order', async () => {
    const out = join(dir, 'defaults');
    const result = cli(
      '--data',
      `text:${SPAM}`,
      '--tokenizer',
      TOKENIZER,
      '--max-length',
      '32',
      '--classes',
      'spam,ham',
      '--limit',
      '120',
      '--teacher-epochs',
      '1',
      '--epochs',
      '1',
      '--workers',
      '2',
      '--out',
      out,
    );
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.config).toMatchObject({ teacher: 'cnn1d:64,128', student: 'bag:32', classes: ['spam', 'ham'], maxLength: 32 });
    expect(report.data.classes).toEqual(['spam', 'ham']);
    expect(report.notices.some((notice: string) => notice.startsWith('class order'))).toBe(false);
  });

  it('bad input: one line naming the flag and the fix, exit 1, no report', async () => {
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, '{"text": "fine", "label": "ham"}\n{"text": "broken", "label": \n');
    const spam = ['--data', `text:${SPAM}`];
    const cases: [string[], RegExp][] = [
      [spam, /^tfjs-distill: error: --data text:.*spam\.jsonl needs --tokenizer: a tokenizer\.json file or the folder that holds it$/],
      [
        [...spam, '--tokenizer', TOKENIZER, '--text-field', 'body'],
        /spam\.jsonl line 1 has no field 'body' \(its fields: text, label\); set --text-field to the field of the text$/,
      ],
      [['--data', `text:${bad}`, '--tokenizer', TOKENIZER], /bad\.jsonl line 2 is not valid JSON \(.*\); give one JSON object a line$/],
      [
        [...spam, '--tokenizer', TOKENIZER, '--classes', 'spam,other'],
        /spam\.jsonl line \d+: the label "ham" is not one of --classes \(spam, other\); add it there or fix the line$/,
      ],
      [['--data', 'mnist', '--tokenizer', TOKENIZER], /^tfjs-distill: error: --tokenizer applies to --data text:FILE only$/],
      [
        [...spam, '--tokenizer', TOKENIZER, '--student-arch', 'mlp:8'],
        /architecture 'mlp:8' takes feature or image rows, but vocabSize says the rows are token ids; use a bag, cnn1d or bilstm architecture$/,
      ],
    ];
    // The cases fail in their set-up, independently: they run side by side.
    await Promise.all(
      cases.map(async ([args, message], index) => {
        const out = join(dir, `never-${index}`);
        const result = await runCliAsync(['run', ...args, '--max-length', '32', '--out', out]);
        expect(result.status, args.join(' ')).toBe(1);
        expect(lastLine(result), args.join(' ')).toMatch(message);
        await expect(readFile(join(out, 'report.json'))).rejects.toThrow();
      }),
    );
  });
});
