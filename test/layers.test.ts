import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain script without type declarations
import { layerViolations } from '../scripts/check-layers.mjs';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

describe('the source tree follows the data flow', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('no import in src/ runs back up it', () => {
    expect(layerViolations(SRC)).toEqual([]);
  });

  it('the check finds imports that do: a later folder, a sibling, tfjs in parallel/', async () => {
    const src = await mkdtemp(join(tmpdir(), 'layers-'));
    dirs.push(src);
    const put = async (path: string, text: string) => {
      await mkdir(dirname(join(src, path)), { recursive: true });
      await writeFile(join(src, path), text);
    };
    await put('errors.ts', 'export const x = 1;\n');
    await put('models/model.ts', "import { x } from '../errors.js';\nexport const m = x;\n");
    await put('kernels/k.ts', "import { m } from '../models/model.js';\nexport const k = m;\n");
    await put(
      'parallel/pool.ts',
      "import * as tf from '@tensorflow/tfjs';\nimport type { T } from '../worker.js';\nexport const p = tf;\n",
    );
    await put('worker.ts', "import { k } from './kernels/k.js';\nexport type T = typeof k;\n");
    await put('data/d.ts', "const lazy = () => import('../train/t.js');\nexport { lazy };\n");
    await put('train/t.ts', 'export const t = 1;\n');
    expect(layerViolations(src).sort()).toEqual([
      'data/d.ts: imports ../train/t.js (train is after data in the data flow)',
      'kernels/k.ts: imports ../models/model.js (models is a sibling of kernels in the data flow)',
      'parallel/pool.ts: imports ../worker.js (worker.ts is after parallel in the data flow)',
      'parallel/pool.ts: imports @tensorflow/tfjs (parallel/ must not depend on it)',
    ]);
  });
});
