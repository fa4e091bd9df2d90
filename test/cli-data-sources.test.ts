import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { npy } from './helpers/npy-writer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from './helpers/cli.js';
import { mulberry32 } from '../dist/random.js';

/** The CLI's run, without blocking: independent runs here go side by side. */
const cli = (...args: string[]) => runCliAsync(['run', ...args]);

/** Rows of 4x4 pixels whose brightness pattern depends on the class: learnable in a few epochs. */
function blobs(rows: number, seed: number): { x: Uint8Array; y: Int32Array } {
  const random = mulberry32(seed);
  const x = new Uint8Array(rows * 16);
  const y = Int32Array.from({ length: rows }, (_, i) => i % 3);
  for (let r = 0; r < rows; r++) for (let p = 0; p < 16; p++) x[r * 16 + p] = Math.floor((p % 3 === y[r] ? 200 : 40) + random() * 40);
  return { x, y };
}

describe('the CLI on NumPy arrays and image folders', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-sources-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const small = [
    '--teacher-arch',
    'mlp:16',
    '--teacher-epochs',
    '10',
    '--lr',
    '0.02',
    '--student-arch',
    'mlp:4',
    '--epochs',
    '4',
    '--batch-size',
    '32',
    '--workers',
    '2',
  ];

  it('--data npy:X.npy,Y.npy, split by --test-fraction or with --test-data', async () => {
    const train = blobs(400, 1);
    const test = blobs(90, 2);
    await writeFile(join(dir, 'x.npy'), npy(train.x, [400, 4, 4]));
    await writeFile(join(dir, 'y.npy'), npy(train.y, [400]));
    await writeFile(join(dir, 'tx.npy'), npy(test.x, [90, 4, 4]));
    await writeFile(join(dir, 'ty.npy'), npy(test.y, [90]));
    const [split, given, bad] = await Promise.all([
      cli(
        '--data',
        `npy:${join(dir, 'x.npy')},${join(dir, 'y.npy')}`,
        '--test-fraction',
        '0.25',
        ...small,
        '--out',
        join(dir, 'npy-split'),
      ),
      cli(
        '--data',
        `npy:${join(dir, 'x.npy')},${join(dir, 'y.npy')}`,
        '--test-data',
        `npy:${join(dir, 'tx.npy')},${join(dir, 'ty.npy')}`,
        ...small,
        '--out',
        join(dir, 'npy-test'),
      ),
      cli('--data', `npy:${join(dir, 'x.npy')}`, '--out', join(dir, 'npy-bad')),
    ]);
    expect(split.status).toBe(0);
    const report = JSON.parse(await readFile(join(dir, 'npy-split', 'report.json'), 'utf8'));
    expect(report.data).toMatchObject({ trainRows: 300, testRows: 100, featureShape: [4, 4], numClasses: 3 });
    expect(report.teacher.accuracy).toBeGreaterThan(0.9);
    expect(given.status).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'npy-test', 'report.json'), 'utf8')).data).toMatchObject({ trainRows: 400, testRows: 90 });
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(/^tfjs-distill: error: --data npy:.*x\.npy: give npy:FEATURES\.npy,LABELS\.npy$/);
  });

  it('--data images:DIR: decoded in the pool, class names in the report and classes.json', async () => {
    const root = join(dir, 'images');
    const colours = { cat: [220, 40, 40], dog: [40, 220, 40], fish: [40, 40, 220] } as const;
    for (const [split, count] of [
      ['train', 40],
      ['test', 12],
    ] as const) {
      for (const [name, [r, g, b]] of Object.entries(colours)) {
        await mkdir(join(root, split, name), { recursive: true });
        for (let i = 0; i < count; i++) {
          const shade = (v: number) => Math.max(0, Math.min(255, v + ((i * 7) % 30) - 15));
          await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: shade(r), g: shade(g), b: shade(b) } } })
            .png()
            .toFile(join(root, split, name, `${i}.png`));
        }
      }
    }
    await writeFile(join(root, 'train', 'cat', 'broken.png'), 'not an image');
    const out = join(dir, 'images-out');
    const args = [
      '--data',
      `images:${root}`,
      '--teacher-arch',
      'cnn:4',
      '--teacher-epochs',
      '3',
      '--student-arch',
      'mlp:8',
      '--epochs',
      '3',
      '--batch-size',
      '32',
      '--workers',
      '2',
    ];
    // The strict run fails on the broken file; it runs beside the other, into a folder of its own.
    const [strict, result] = await Promise.all([
      cli(...args, '--out', join(dir, 'images-strict')),
      cli(...args, '--skip-bad-images', '--out', out),
    ]);
    expect(strict.stderr.trim().split('\n').at(-1)).toMatch(
      /cannot decode .*broken\.png \(.*\); replace or remove it, or set --skip-bad-images/,
    );
    expect(result.status).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.data).toMatchObject({
      trainRows: 120,
      testRows: 36,
      featureShape: [8, 8, 3],
      numClasses: 3,
      classes: ['cat', 'dog', 'fish'],
    });
    expect(report.notices).toContain('1 images could not be decoded and were left out (--skip-bad-images)');
    expect(JSON.parse(await readFile(join(out, 'student', 'classes.json'), 'utf8'))).toEqual(['cat', 'dog', 'fish']);
    // The input contract: the decoded size and channels, pixels times 1/255.
    expect(JSON.parse(await readFile(join(out, 'student', 'preprocessing.json'), 'utf8'))).toMatchObject({
      kind: 'image',
      inputShape: [8, 8, 3],
      height: 8,
      width: 8,
      channels: 3,
      layout: 'hwc',
      scale: 1 / 255,
    });
    expect(report.teacher.accuracy).toBeGreaterThan(0.9);
  });
});
