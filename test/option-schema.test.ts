import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LABEL_FLAGS, RUN_FLAGS, flagHelp, parseCommandLine } from '../dist/cli/flags.js';
import { optionsReference } from '../dist/cli/options-doc.js';
import { DistillError } from '../dist/errors.js';
import { label } from '../dist/labelling/label.js';
import { DISTILLATION_DEFAULTS, LABELLED_SHARE_FOR_LABEL_DEFAULTS, distillationDefaults } from '../dist/options/labelled-defaults.js';
import { DEFAULTS, OPTION_KEYS, resolveConfig } from '../dist/options/options.js';
import { OPTION_SCHEMA, keysOfGroups, resolveOptions } from '../dist/options/resolve.js';
import { labelOnQueue } from '../dist/queue/queue.js';
import { serveLabelQueue } from '../dist/queue/queue-worker.js';
import { absoluteUnlessUrl, importSpecifier, isUrl } from '../dist/url-or-path.js';

/** Expects `run` to reject with a one-line DistillError that matches `message`. */
async function rejectsWith(run: Promise<unknown>, message: RegExp) {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DistillError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain('\n');
  return error as DistillError;
}

describe('the option schema', () => {
  const train = { x: new Float32Array(12), y: new Int32Array([0, 1, 2]), shape: [3, 4], numClasses: 3 };

  it('declares every option once, with a group, a one-line description, and its default in DEFAULTS', () => {
    for (const [key, decl] of Object.entries(OPTION_SCHEMA)) {
      expect(decl.description, key).toMatch(/^[^\n]+$/);
      expect(decl.group, key).toBeTruthy();
    }
    expect(DEFAULTS).toMatchObject({ epochs: 3, batchSize: 128, temperature: 4, optimizer: { name: 'adam', learningRate: 1e-3 } });
    expect(Object.keys(OPTION_KEYS)).toEqual(expect.arrayContaining(Object.keys(DEFAULTS)));
  });

  it('takes the temperature and alpha defaults by the share of training rows that keep a label; given values win', () => {
    const rows = 100;
    const labels = Int32Array.from({ length: rows }, (_, i) => i % 10);
    const data = (y: Int32Array) => ({ x: new Float32Array(rows * 4), y, shape: [rows, 4], numClasses: 10 });
    const resolved = (options: object, y = labels) => {
      const config = resolveConfig({ teacher: 't', student: 'mlp:8', train: data(y), test: data(y), ...options });
      return { temperature: config.temperature, alpha: config.alpha };
    };
    const { fewLabels, mostLabelled } = DISTILLATION_DEFAULTS;
    expect(fewLabels).toEqual({ temperature: DEFAULTS.temperature, alpha: DEFAULTS.alpha });
    expect(mostLabelled).not.toEqual(fewLabels);
    const half = rows * LABELLED_SHARE_FOR_LABEL_DEFAULTS;
    expect(resolved({})).toEqual(mostLabelled);
    expect(resolved({ labeled: half })).toEqual(mostLabelled);
    expect(resolved({ labeled: half - 1 })).toEqual(fewLabels);
    // Rows without a label (-1) count as unlabelled, whatever labeled says.
    expect(
      resolved(
        {},
        Int32Array.from(labels, (y, i) => (i < half + 1 ? -1 : y)),
      ),
    ).toEqual(fewLabels);
    expect(resolved({ labeled: 10, temperature: 2 })).toEqual({ temperature: 2, alpha: fewLabels.alpha });
    expect(resolved({ alpha: 0.7 })).toEqual({ temperature: mostLabelled.temperature, alpha: 0.7 });
    expect(distillationDefaults(labels, null)).toBe(mostLabelled);
    // Read back from the declarations, where the defaults are stated.
    expect(mostLabelled).toEqual({
      temperature: OPTION_SCHEMA.temperature.defaultWhen.mostlyLabelled,
      alpha: OPTION_SCHEMA.alpha.defaultWhen.mostlyLabelled,
    });
  });

  it('an entry point resolves only its groups: defaults filled in, values checked, other options refused', () => {
    const config = resolveOptions({ temperature: 2 }, { groups: ['labelling'] });
    expect(config).toEqual({ softLabels: null, softLabelTopK: null, temperature: 2 });
    // Defaults under conditions only where the entry point says they hold (label() says none do).
    expect(resolveOptions({}, { groups: ['labelling'] })).toMatchObject({ temperature: 4 });
    const mostlyLabelled = { text: false, mostlyLabelled: true };
    expect(resolveOptions({}, { groups: ['labelling'], conditions: mostlyLabelled })).toMatchObject({ temperature: 1 });
    expect(resolveOptions({ temperature: 2 }, { groups: ['labelling'], conditions: mostlyLabelled })).toMatchObject({ temperature: 2 });
    expect(() => resolveOptions({ epochs: 3 }, { groups: ['labelling'] })).toThrow(/^unknown option 'epochs'; valid options: softLabels, /);
    expect(() => resolveOptions({ temperature: -1 }, { groups: ['labelling'] })).toThrow(/^temperature must be a number > 0, got -1$/);
    expect(keysOfGroups(['queue'], 'settings')).toEqual(['queueTimeoutSeconds']);
  });

  it('label(), labelOnQueue() and the queue worker refuse a bad temperature (or other value) with a one-line error', async () => {
    const teacher = 'nowhere/model.json';
    const bad = await rejectsWith(
      label({ teacher, train, softLabels: '/tmp/x.sl', temperature: 0 }),
      /^temperature must be a number > 0, got 0$/,
    );
    expect(bad.options).toEqual(['temperature']);
    await rejectsWith(
      labelOnQueue({ queue: 'redis://127.0.0.1:1/q', data: { source: 'mnist' }, teacher, softLabels: '/tmp/x.sl', temperature: -2 }),
      /^temperature must be a number > 0, got -2$/,
    );
    await rejectsWith(
      labelOnQueue({ queue: 'redis://127.0.0.1:1/q', data: { source: 'mnist' }, teacher, softLabels: '/tmp/x.sl', softLabelTopK: 0 }),
      /^softLabelTopK must be an integer >= 1, got 0$/,
    );
    await rejectsWith(serveLabelQueue({ queue: 'redis://127.0.0.1:1/q', workers: 0 }), /^workers must be an integer >= 1, got 0$/);
    await rejectsWith(label({ teacher, train, softLabels: '/tmp/x.sl', epochs: 3 } as never), /^unknown option 'epochs'/);
  });
});

describe('URL or path', () => {
  it('a scheme of two or more letters is a URL; a Windows drive letter is a path', () => {
    for (const url of ['file:///m/layers.mjs', 'data:text/javascript,export%20default%201', 'node:fs', 'https://x.org/m.js']) {
      expect(isUrl(url), url).toBe(true);
      expect(importSpecifier(url)).toBe(url);
      expect(absoluteUnlessUrl(url, '/base')).toBe(url);
    }
    for (const path of ['C:\\models\\t.onnx', 'c:/models/t.onnx', 'models/t.onnx', './mlp:32', '/abs/t.onnx']) {
      expect(isUrl(path), path).toBe(false);
      expect(importSpecifier(path)).toMatch(/^file:\/\//);
    }
    expect(absoluteUnlessUrl('layers.mjs', '/base')).toBe('/base/layers.mjs');
  });
});

describe('the command line, derived from the schema', () => {
  it('docs/options.md is what the schema generates (run npm run docs:options after changing an option)', () => {
    const committed = readFileSync(new URL('../docs/options.md', import.meta.url), 'utf8');
    expect(committed).toBe(optionsReference());
    // Every declared option is in it, with its flags.
    for (const key of Object.keys(OPTION_SCHEMA)) expect(committed).toContain(`| \`${key}\` |`);
    expect(committed).toContain('`--lr RATE` (optimizer.learningRate)');
    expect(committed).toContain('| `batchSize` | both | `128`, `32` for text |');
    expect(committed).toContain('`4`, `1` when at least 50% of the training rows keep their labels (label: `4`)');
  });

  it('--help shows each flag with the default and key from the schema; label takes the whole teacher group', () => {
    expect(flagHelp(RUN_FLAGS)).toMatch(/--epochs N +epochs of distillation \(default: 3, 5 for text; key: epochs\)/);
    expect(flagHelp(RUN_FLAGS)).toMatch(/--optimizer NAME .*\(default: adam; key: optimizer\.name\)/);
    for (const flag of ['teacher-normalize', 'teacher-layout', 'teacher-output', 'teacher-runtime', 'import', 'queue-timeout', 'config']) {
      expect(LABEL_FLAGS, flag).toHaveProperty(flag);
    }
    expect(flagHelp(LABEL_FLAGS)).toMatch(/--queue-timeout S .*\(default: 600; key: queueTimeoutSeconds\)/);
    // run meets the labelled-share condition; label, with no labelled rows to go by, shows the plain default.
    const labelled = 'when at least 50% of the training rows keep their labels';
    expect(flagHelp(RUN_FLAGS)).toContain(`(default: 4, 1 ${labelled}; key: temperature)`);
    expect(flagHelp(RUN_FLAGS)).toContain(`(default: 0.9, 0.5 ${labelled}; key: alpha)`);
    expect(flagHelp(LABEL_FLAGS)).toMatch(/--temperature T .*\(default: 4; key: temperature\)/);
    expect(RUN_FLAGS).not.toHaveProperty('queue-timeout');
  });

  it('parseArgs reads the flags; every problem is one line of our own', () => {
    expect(parseCommandLine(['--epochs=3', '--baseline', '--import', 'a.mjs', '--import', 'b.mjs', '--lr', '0.1'], 'run')).toEqual({
      flags: { epochs: 3, baseline: true, import: ['a.mjs', 'b.mjs'], lr: 0.1 },
      positionals: [],
    });
    expect(parseCommandLine(['--baseline=false'], 'run').flags).toEqual({ baseline: false });
    expect(parseCommandLine(['--soft-labels', 'a.sl', 'x.shard-0', 'x.shard-1'], 'merge')).toEqual({
      flags: { 'soft-labels': 'a.sl' },
      positionals: ['x.shard-0', 'x.shard-1'],
    });
    const fails = (argv: string[], command: 'run' | 'label' | 'worker' | 'merge' = 'run') => {
      try {
        parseCommandLine(argv, command);
      } catch (error) {
        expect(error).toBeInstanceOf(DistillError);
        return (error as Error).message;
      }
      throw new Error(`${argv.join(' ')} was accepted`);
    };
    expect(fails(['--batch_size', '3'])).toBe('unknown flag --batch_size; did you mean --batch-size?');
    expect(fails(['--learning-rate', '3'])).toBe('unknown flag --learning-rate; did you mean --lr?');
    expect(fails(['--temprature', '3'], 'label')).toBe('unknown flag --temprature for label; did you mean --temperature?');
    expect(fails(['--epochs', '3'], 'worker')).toBe('unknown flag --epochs for worker (see tfjs-distill worker --help)');
    expect(fails(['--epochs'])).toBe('--epochs needs a value (N)');
    expect(fails(['--epochs', '--lr', '0.1'])).toBe('--epochs needs a value (N)');
    expect(fails(['--epochs', '2.5'])).toBe("--epochs expects an integer, got '2.5'");
    expect(fails(['--temperature', 'hot'])).toBe("--temperature expects a number, got 'hot'");
    expect(fails(['--baseline=yes'])).toBe('--baseline takes no value, or =true or =false');
    expect(fails(['stray'])).toBe("unexpected argument 'stray'; flags look like --epochs 3 (see tfjs-distill run --help)");
  });
});
