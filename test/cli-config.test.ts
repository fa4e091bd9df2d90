import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliAsync } from './helpers/cli.js';

/** The real CLI, run from `cwd`. */
const cli = (cwd: string, ...args: string[]) => runCli(args, { cwd });

/** The real CLI without blocking, for commands that can run side by side. */
const cliAsync = (cwd: string, ...args: string[]) => runCliAsync(args, { cwd });

/** The last line of stderr: a failed run's one-line error. */
const lastLine = (result: { stderr: string }) => result.stderr.trim().split('\n').at(-1);

const readReport = async (out: string) => JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));

/** Three separable blobs in 4 features, with a header row. */
function blobsCsv(rows: number): string {
  const lines = ['label,a,b,c,d'];
  for (let i = 0; i < rows; i++) {
    const c = i % 3;
    const jitter = (k: number) => (Math.sin(i * 12.9898 + k * 78.233) * 43758.5453) % 1;
    lines.push([c, c * 2 + jitter(1), -c + jitter(2), jitter(3), c + jitter(4)].join(','));
  }
  return lines.join('\n');
}

describe('the CLI: config files, strict names, help, defaults and output', () => {
  let dir: string;
  let csv: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-config-'));
    csv = join(dir, 'blobs.csv');
    await writeFile(csv, blobsCsv(600));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('run -h and run --help print the help of run', async () => {
    // Help wins over other flags, even bad ones.
    const [short, long, overBadFlag] = await Promise.all([
      cliAsync(dir, 'run', '-h'),
      cliAsync(dir, 'run', '--help'),
      cliAsync(dir, 'run', '--epochs', 'x', '-h'),
    ]);
    for (const result of [short, long]) {
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^tfjs-distill run: /);
      expect(result.stdout).toContain('--config FILE');
      expect(result.stdout).toContain('(default: 128, 32 for text; key: batchSize)');
      expect(result.stdout).toContain('key: optimizer.learningRate');
    }
    expect(overBadFlag.status).toBe(0);
  });

  it('unknown flags name the flag and suggest the nearest one', async () => {
    // Each flag's error line, from commands run side by side.
    const errors = new Map(
      await Promise.all(
        ['--learning-rate', '--epoch', '--batch_size', '--checkpoint-every-steps', '--zzz'].map(async (flag) => {
          const result = await cliAsync(dir, 'run', flag, '1');
          expect(result.status).toBe(1);
          return [flag, lastLine(result)] as const;
        }),
      ),
    );
    expect(errors.get('--learning-rate')).toBe('tfjs-distill: error: unknown flag --learning-rate; did you mean --lr?');
    expect(errors.get('--epoch')).toBe('tfjs-distill: error: unknown flag --epoch; did you mean --epochs?');
    expect(errors.get('--batch_size')).toBe('tfjs-distill: error: unknown flag --batch_size; did you mean --batch-size?');
    expect(errors.get('--checkpoint-every-steps')).toBe(
      'tfjs-distill: error: unknown flag --checkpoint-every-steps; did you mean --checkpoint-every?',
    );
    expect(errors.get('--zzz')).toBe('tfjs-distill: error: unknown flag --zzz (see tfjs-distill run --help)');
  });

  it('unknown keys in a config file, top-level or nested, name the key and suggest the nearest one', async () => {
    const files = {
      'lr.yaml': 'lr: 0.5\n',
      'nested.yaml': 'optimizer:\n  learning_rate: 0.5\n',
      'epoch.json': '{ "epoch": 3 }',
      'flag-name.yaml': 'batch-size: 64\n',
      'checkpoint.yaml': 'checkpoint: { every: 5 }\n',
      'far.yaml': 'teacherNormalize: { mean: [0], zzz: [1] }\n',
      'epochs.yaml': 'epochs: 0\n',
      'broken.yaml': 'epochs: [1\n',
      'list.yaml': '- 1\n',
    };
    await Promise.all(Object.entries(files).map(([name, text]) => writeFile(join(dir, name), text)));
    const fails = async (name: keyof typeof files) => {
      const result = await cliAsync(dir, 'run', '--config', name, '--out', join(dir, 'never'));
      expect(result.status).toBe(1);
      return lastLine(result);
    };
    // The commands run side by side; each is checked below.
    const [lr, nested, epoch, flagName, checkpoint, far, epochs, overridden, broken, list] = await Promise.all([
      fails('lr.yaml'),
      fails('nested.yaml'),
      fails('epoch.json'),
      fails('flag-name.yaml'),
      fails('checkpoint.yaml'),
      fails('far.yaml'),
      fails('epochs.yaml'),
      cliAsync(dir, 'run', '--config', 'epochs.yaml', '--epochs', '-1'),
      fails('broken.yaml'),
      fails('list.yaml'),
    ]);
    expect(lr).toBe("tfjs-distill: error: lr.yaml: unknown key 'lr'; did you mean 'optimizer.learningRate'?");
    expect(nested).toBe("tfjs-distill: error: nested.yaml: unknown key 'optimizer.learning_rate'; did you mean 'optimizer.learningRate'?");
    expect(epoch).toBe("tfjs-distill: error: epoch.json: unknown key 'epoch'; did you mean 'epochs'?");
    expect(flagName).toBe("tfjs-distill: error: flag-name.yaml: unknown key 'batch-size'; did you mean 'batchSize'?");
    expect(checkpoint).toBe("tfjs-distill: error: checkpoint.yaml: unknown key 'checkpoint.every'; did you mean 'checkpoint.everySteps'?");
    expect(far).toBe(
      "tfjs-distill: error: far.yaml: unknown key 'teacherNormalize.zzz'; valid keys: teacherNormalize.mean, teacherNormalize.std",
    );
    // Bad values from the file are named as the file's keys; flags that override them are named as flags.
    expect(epochs).toBe('tfjs-distill: error: epochs.yaml: epochs must be an integer >= 1, got 0');
    expect(lastLine(overridden)).toBe('tfjs-distill: error: --epochs must be an integer >= 1, got -1');
    expect(broken).toMatch(/^tfjs-distill: error: broken\.yaml is not valid YAML at line \d+, column \d+: /);
    expect(list).toBe('tfjs-distill: error: list.yaml: the top level must be a mapping of keys to values (epochs: 3, ...)');
  });

  it('a YAML and a JSON config file with the library keys; flags override them; paths are relative to the file', async () => {
    const configs = join(dir, 'configs');
    await mkdir(configs, { recursive: true });
    const yaml = [
      '# the data is one folder up from this file',
      'data: csv:../blobs.csv',
      'testFraction: 0.25',
      'teacher: mlp:16',
      'teacherEpochs: 2',
      'student: mlp:4',
      'epochs: 1',
      'batchSize: 32',
      'workers: 2',
      'optimizer:',
      '  name: sgd',
      '  learningRate: 1e-1',
      'baseline: true',
      'out: ../from-yaml',
    ].join('\n');
    await writeFile(join(configs, 'run.yaml'), yaml);
    const json = {
      data: `csv:${csv}`,
      teacher: 'mlp:16',
      teacherEpochs: 2,
      student: 'mlp:4',
      epochs: 1,
      workers: 2,
      optimizer: { learningRate: 0.01 },
    };
    await writeFile(join(configs, 'run.json'), JSON.stringify(json));
    const out = join(dir, 'from-json');
    // The two runs are independent: side by side, one's start-up overlaps the other's training.
    const [fromYaml, fromJson] = await Promise.all([
      // Run from elsewhere: the file's paths are read from its own folder, the flags' from the working directory.
      cliAsync(tmpdir(), 'run', '--config', join(configs, 'run.yaml'), '--epochs', '2', '--lr', '0.05', '--baseline=false'),
      cliAsync(dir, 'run', '--config', join(configs, 'run.json'), '--batch-size', '16', '--out', out),
    ]);
    expect(fromYaml.status).toBe(0);
    const report = await readReport(join(dir, 'from-yaml'));
    expect(report.config).toMatchObject({
      data: `csv:${csv}`,
      testFraction: 0.25,
      teacher: 'mlp:16',
      teacherEpochs: 2,
      student: 'mlp:4',
      epochs: 2,
      batchSize: 32,
      workers: 2,
      optimizer: { name: 'sgd', learningRate: 0.05 },
      baseline: false,
    });
    expect(report.config).not.toHaveProperty('out');
    expect(report.data).toMatchObject({ trainRows: 450, testRows: 150 });
    expect(report.baseline).toBeUndefined();

    expect(fromJson.status).toBe(0);
    expect((await readReport(out)).config).toMatchObject({ ...json, batchSize: 16, optimizer: { name: 'adam', learningRate: 0.01 } });
  });

  it("report.json's config is a config file: --config report.json reproduces the run's weights (same seed and W)", async () => {
    const first = join(dir, 'first');
    const run = cli(
      dir,
      'run',
      '--data',
      'csv:blobs.csv',
      '--labeled',
      '200',
      '--teacher-arch',
      'mlp:16',
      '--teacher-epochs',
      '2',
      '--student-arch',
      'mlp:8',
      '--epochs',
      '2',
      '--batch-size',
      '32',
      '--temperature',
      '2',
      '--seed',
      '7',
      '--workers',
      '2',
      '--baseline',
      // Two short epochs leave the teacher near chance; the flag travels in report.json's config too.
      '--allow-weak-teacher',
      '--out',
      first,
    );
    expect(run.status).toBe(0);
    const again = join(dir, 'again');
    // From another directory: report.json's paths are absolute.
    expect(cli(tmpdir(), 'run', '--config', join(first, 'report.json'), '--out', again).status).toBe(0);
    for (const model of ['teacher', 'student', 'baseline']) {
      const [a, b] = await Promise.all([first, again].map((out) => readFile(join(out, model, 'weights.bin'))));
      expect(a.equals(b), `${model} weights`).toBe(true);
    }
    const [reportA, reportB] = await Promise.all([readReport(first), readReport(again)]);
    expect(reportA.config.allowWeakTeacher).toBe(true);
    expect(reportB.config).toEqual(reportA.config);
    expect(reportB.student.accuracy).toBe(reportA.student.accuracy);
  });

  it('CSV rows get an MLP teacher by default, and the notices are printed after the table', async () => {
    const out = join(dir, 'csv-default');
    const result = cli(dir, 'run', '--data', `csv:${csv}`, '--workers', '2', '--out', out);
    expect(result.status).toBe(0);
    const report = await readReport(out);
    expect(report.config.teacher).toBe('mlp:128,64');
    expect(result.stdout).toMatch(/^model\s+mlp:128,64\s+mlp:32$/m);
    expect(report.notices.length).toBeGreaterThan(0);
    const table = result.stdout.indexOf('test accuracy');
    for (const notice of report.notices) {
      const at = result.stdout.indexOf(`\nnotice: ${notice}\n`);
      expect(at, notice).toBeGreaterThan(table);
    }
  });

  it('in a log, progress writes a line per epoch and at most one every 10 s, however many passes the baseline makes', async () => {
    const out = join(dir, 'log');
    const started = performance.now();
    // 100 labelled rows: the baseline runs the student's 128 steps as 64 passes over them.
    const result = cli(
      dir,
      'run',
      '--data',
      'mnist',
      '--limit',
      '2000',
      '--labeled',
      '100',
      '--teacher-arch',
      'mlp:16',
      '--teacher-epochs',
      '2',
      '--student-arch',
      'mlp:8',
      '--epochs',
      '4',
      '--batch-size',
      '64',
      '--workers',
      '2',
      '--baseline',
      '--out',
      out,
    );
    const seconds = (performance.now() - started) / 1000;
    expect(result.status).toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines.filter((line) => line === 'starting workers')).toHaveLength(1);
    expect(lines.filter((line) => line.startsWith('distilling student'))).toHaveLength(4);
    const baseline = lines.filter((line) => line.startsWith('training baseline'));
    expect(baseline.at(-1)).toMatch(/step 128\/128 \(same steps as the student: 64 passes over 100 labelled rows\)/);
    // Epochs asked for (2 + 4), one line per 10 s, and a few per phase (setup, teacher, label, student, baseline, 3 evaluations).
    expect(lines.length).toBeLessThanOrEqual(2 + 4 + Math.ceil(seconds / 10) + 3 * 6);
    expect(baseline.length).toBeLessThanOrEqual(1 + Math.ceil(seconds / 10));
  });
});
