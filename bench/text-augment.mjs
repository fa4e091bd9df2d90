#!/usr/bin/env node
// What --augment does for a text student with few labels: the spam fixture (400 real SpamAssassin e-mails)
// cut into 80 test e-mails and 320 training e-mails of which the first 200 keep their label (the rest is the
// unlabeled transfer set, so the teacher the run trains sees 200 labels too). Each setting runs for several
// seeds; the table gives the test accuracy of the teacher, the distilled student and its hard-label baseline.
// Settings: no augmentation; no augmentation with the epochs of the augmented run (the same number of steps);
// masked and n-gram copies. Writes bench/results/text-augment.json and .md. Run after npm run build:
//   node bench/text-augment.mjs [SEEDS]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const CLI = join(root, 'dist/cli/main.js');
const SPAM = join(root, 'test/fixtures/text/spam.jsonl');
const TOKENIZER = join(root, 'test/fixtures/tokenizers/spam-unigram');
const SEEDS = Number(process.argv[2] ?? 3);
const LABELS = 200;
const TEST_ROWS = 80;
const EPOCHS = 3;
const COPIES = 4;

const dir = mkdtempSync(join(tmpdir(), 'text-augment-bench-'));
const lines = readFileSync(SPAM, 'utf8').trim().split('\n');
const test = join(dir, 'test.jsonl');
const train = join(dir, 'train.jsonl');
writeFileSync(test, `${lines.slice(-TEST_ROWS).join('\n')}\n`);
const trainRows = lines.slice(0, -TEST_ROWS).map((line, i) => (i < LABELS ? line : JSON.stringify({ ...JSON.parse(line), label: null })));
writeFileSync(train, `${trainRows.join('\n')}\n`);

const SETTINGS = [
  { name: 'none', flags: ['--epochs', String(EPOCHS)] },
  { name: `none, ${EPOCHS * (1 + COPIES)} epochs (the augmented run's steps)`, flags: ['--epochs', String(EPOCHS * (1 + COPIES))] },
  { name: `mask:0.1 x${COPIES}`, flags: ['--epochs', String(EPOCHS), '--augment', 'mask:0.1', '--augment-copies', String(COPIES)] },
  {
    name: `mask:0.1,ngram:0.25 x${COPIES}`,
    flags: ['--epochs', String(EPOCHS), '--augment', 'mask:0.1,ngram:0.25', '--augment-copies', String(COPIES)],
  },
];

const results = [];
for (const setting of SETTINGS) {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const out = join(dir, `${results.length}`);
    const args = [
      ...['run', '--data', `text:${train}`, '--test-data', `text:${test}`, '--tokenizer', TOKENIZER, '--max-length', '64'],
      ...['--teacher-arch', 'cnn1d:64,128', '--teacher-epochs', '5', '--student-arch', 'bag:32', '--baseline'],
      ...['--batch-size', '32', '--lr', '0.01', '--workers', '2', '--seed', String(seed), '--out', out, ...setting.flags],
    ];
    const started = performance.now();
    const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`${setting.name} seed ${seed} failed: ${run.stderr}`);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    const row = {
      setting: setting.name,
      seed,
      trainRows: report.data.trainRows,
      teacher: report.teacher.accuracy,
      student: report.student.accuracy,
      baseline: report.baseline.accuracy,
      seconds: (performance.now() - started) / 1000,
    };
    results.push(row);
    console.log(JSON.stringify(row));
  }
}
rmSync(dir, { recursive: true, force: true });

const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
const pct = (value) => (100 * value).toFixed(1);
const table = [
  `Test accuracy in %, over ${SEEDS} seeds: the mean, and the lowest to the highest.`,
  '',
  '| setting | training rows | teacher | student | baseline | student - baseline |',
  '| --- | --- | --- | --- | --- | --- |',
];
for (const { name } of SETTINGS) {
  const rows = results.filter((r) => r.setting === name);
  const cell = (key) =>
    `${pct(mean(rows.map((r) => r[key])))} (${pct(Math.min(...rows.map((r) => r[key])))}-${pct(Math.max(...rows.map((r) => r[key])))})`;
  const gap = mean(rows.map((r) => r.student - r.baseline));
  table.push(
    `| ${name} | ${rows[0].trainRows} | ${cell('teacher')} | ${cell('student')} | ${cell('baseline')} | ${(100 * gap).toFixed(1)} | |`,
  );
}
const results_dir = join(root, 'bench/results');
writeFileSync(join(results_dir, 'text-augment.json'), `${JSON.stringify({ labels: LABELS, testRows: TEST_ROWS, results }, null, 2)}\n`);
writeFileSync(join(results_dir, 'text-augment.md'), `${table.join('\n')}\n`);
console.log(table.join('\n'));
