// The study behind the text defaults (docs/results.md, "Text defaults"): which batch size, learning rate and
// epochs make a distilled text student beat its same-budget baseline when the user tunes nothing. Two tasks
// from the SpamAssassin devDependency (bench/spam-corpus.mjs): spam/ham, and the three kinds of mail
// (easy-ham, hard-ham, spam). Each task's teacher (the default cnn1d) is trained once, with fixed settings,
// and reused by every student setting (--teacher DIR --soft-labels FILE), so the settings compare students
// alone; each run is the CLI with every setting named, the baseline on, at 200 labels and at all of them.
// Results are appended to OUT/results.jsonl (a rerun skips the runs it holds); then every result there is
// summed up as markdown on stdout, a table per task and label budget (median over seeds, with the range):
//   npm run build && node bench/text-defaults.mjs [--out runs/text-defaults] [--max-length 64] [--seeds 1,2,3]
//     [--tasks spam,kinds] [--settings 32:0.01:5,128:0.001:3] [--labeled 200,all] [--temperatures 4] [--cli main.js]
//   node bench/text-defaults.mjs --summary [--out DIR]   (the tables of the results so far, running nothing)
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { KIND_CLASSES, SPAM_CLASSES, writeSpamCorpus } from './spam-corpus.mjs';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    'max-length': { type: 'string' },
    seeds: { type: 'string' },
    tasks: { type: 'string' },
    settings: { type: 'string' },
    labeled: { type: 'string' },
    temperatures: { type: 'string' },
    cli: { type: 'string' },
    summary: { type: 'boolean' },
  },
});
const out = args.out ?? 'runs/text-defaults';
const maxLength = args['max-length'] ?? '64';
const seeds = (args.seeds ?? '1').split(',');
const tasks = (args.tasks ?? 'spam,kinds').split(',');
const labelledBudgets = (args.labeled ?? '200,all').split(',');
const temperatures = (args.temperatures ?? '4').split(',');
// batch:lr:epochs; by default the grid of the three around today's defaults and the tuned text runs.
const grid = [32, 128].flatMap((batch) => [0.001, 0.003, 0.01].flatMap((lr) => [3, 5, 10].map((epochs) => `${batch}:${lr}:${epochs}`)));
const settings = (args.settings?.split(',') ?? grid).map((setting) => {
  const [batch, lr, epochs] = setting.split(':');
  return { batch, lr, epochs };
});
// --cli: another build's main.js (a copy of dist/, so that rebuilding mid-study changes nothing).
const cli = args.cli ?? fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const tokenizer = fileURLToPath(new URL('../test/fixtures/tokenizers/spam-unigram', import.meta.url));
const TASK_CLASSES = { spam: SPAM_CLASSES, kinds: KIND_CLASSES };
// The teacher's own settings, the same whatever the students': a teacher near the tuned text runs'.
const TEACHER_FLAGS = ['--teacher-epochs', '4', '--teacher-lr', '0.003', '--batch-size', '32', '--epochs', '1', '--labeled', '200'];
const run = promisify(execFile);
const log = (line) => console.error(`[text-defaults ${new Date().toISOString().slice(11, 19)}] ${line}`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Runs the CLI; returns its report.json. */
async function distil(flags, runOut) {
  await rm(runOut, { recursive: true, force: true });
  await run(process.execPath, [cli, 'run', ...flags, '--workers', '2', '--out', runOut], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(await readFile(join(runOut, 'report.json'), 'utf8'));
}

/** The task's data flags, writing its JSONL first. */
function dataFlags(task) {
  const dir = join(out, task);
  if (!existsSync(join(dir, 'train.jsonl'))) writeSpamCorpus(dir, { classes: TASK_CLASSES[task] });
  const source = (name) => `text:${join(dir, name)}`;
  return ['--data', source('train.jsonl'), '--test-data', source('test.jsonl'), '--tokenizer', tokenizer, '--max-length', maxLength];
}

const done = new Set(
  existsSync(join(out, 'results.jsonl'))
    ? readFileSync(join(out, 'results.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).key)
    : [],
);
for (const task of tasks) if (!TASK_CLASSES[task]) throw new Error(`--tasks: '${task}' is not one of ${Object.keys(TASK_CLASSES)}`);
await mkdir(out, { recursive: true });
for (const task of args.summary ? [] : tasks) {
  const data = dataFlags(task);
  const teacherOut = join(out, `${task}-teacher`);
  const softLabels = join(out, `${task}.sl`);
  if (!existsSync(join(teacherOut, 'report.json'))) {
    log(`${task}: training the teacher (load ${load()})`);
    const report = await distil([...data, ...TEACHER_FLAGS, '--soft-labels', softLabels], teacherOut);
    log(`${task}: teacher ${(report.teacher.accuracy * 100).toFixed(1)}%`);
  }
  for (const seed of seeds)
    for (const labeled of labelledBudgets)
      for (const temperature of temperatures)
        for (const { batch, lr, epochs } of settings) {
          const key = `${task} labeled=${labeled} batch=${batch} lr=${lr} epochs=${epochs} T=${temperature} seed=${seed}`;
          if (done.has(key)) continue;
          const loadAtStart = load();
          const started = Date.now();
          const flags = [...data, '--teacher', join(teacherOut, 'teacher'), '--soft-labels', softLabels, '--baseline'];
          flags.push('--batch-size', batch, '--lr', lr, '--epochs', epochs, '--temperature', temperature, '--seed', seed);
          if (labeled !== 'all') flags.push('--labeled', labeled);
          const report = await distil(flags, join(out, 'last-run'));
          const scores = (model) => ({ accuracy: report[model].accuracy, macroF1: report[model].macroF1 });
          const row = {
            key,
            task,
            labeled,
            batch: Number(batch),
            lr: Number(lr),
            epochs: Number(epochs),
            temperature: Number(temperature),
            seed: Number(seed),
            teacher: scores('teacher'),
            student: scores('student'),
            baseline: scores('baseline'),
            seconds: (Date.now() - started) / 1000,
            load: loadAtStart,
          };
          await appendFile(join(out, 'results.jsonl'), `${JSON.stringify(row)}\n`);
          const pct = (value) => (value * 100).toFixed(1);
          log(
            `${key}: teacher ${pct(row.teacher.accuracy)} student ${pct(row.student.accuracy)} baseline ${pct(row.baseline.accuracy)} ` +
              `(macro-F1 ${pct(row.student.macroF1)} / ${pct(row.baseline.macroF1)}), ${row.seconds.toFixed(0)} s, load ${loadAtStart}`,
          );
        }
}

/** The items by key, in order of first appearance (Map.groupBy, which Node 20 lacks). */
function groupBy(items, keyOf) {
  const groups = new Map();
  for (const item of items) groups.set(keyOf(item), [...(groups.get(keyOf(item)) ?? []), item]);
  return groups;
}

/** The results as markdown: a table per task and budget, a row per setting, medians over seeds with their range. */
function summary(rows) {
  const pct = (value) => (value * 100).toFixed(1);
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)];
  };
  const cell = (values) => {
    const low = Math.min(...values);
    const high = Math.max(...values);
    return low === high ? pct(median(values)) : `${pct(median(values))} (${pct(low)}..${pct(high)})`;
  };
  const lines = [];
  const groups = groupBy(rows, (row) => `${row.task} labeled=${row.labeled}`);
  for (const [group, inGroup] of groups) {
    const [task, labeled] = group.split(' labeled=');
    const teacher = `teacher ${pct(inGroup[0].teacher.accuracy)}%, macro-F1 ${pct(inGroup[0].teacher.macroF1)}%`;
    lines.push('', `**${task}, ${labeled === 'all' ? 'all labels' : `${labeled} labels`}** (${teacher})`, '');
    lines.push('| batch | lr | epochs | T | seeds | student | baseline | student - baseline | student macro-F1 | baseline macro-F1 |');
    lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const order = (a, b) => a.batch - b.batch || a.lr - b.lr || a.epochs - b.epochs || a.temperature - b.temperature;
    const settings = groupBy([...inGroup].sort(order), (row) => `| ${row.batch} | ${row.lr} | ${row.epochs} | ${row.temperature}`);
    for (const [setting, runs] of settings) {
      const of = (model, metric) => runs.map((row) => row[model][metric]);
      const gains = runs.map((row) => row.student.accuracy - row.baseline.accuracy);
      lines.push(
        `${setting} | ${runs.length} | ${cell(of('student', 'accuracy'))} | ${cell(of('baseline', 'accuracy'))} | ${cell(gains)} | ` +
          `${cell(of('student', 'macroF1'))} | ${cell(of('baseline', 'macroF1'))} |`,
      );
    }
  }
  const loads = rows.map((row) => Number(row.load.split(' ')[0]));
  lines.push('', `load average (1 min) at the start of a run: ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)}`);
  return lines.join('\n');
}

const results = readFileSync(join(out, 'results.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line));
console.log(summary(results));
