import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain script without type declarations
import { sizeViolations } from '../scripts/check-sizes.mjs';

/** A function `name` whose span is exactly `lines` lines. */
const functionOf = (name: string, lines: number) =>
  `export function ${name}() {\n${Array.from({ length: lines - 2 }, (_, i) => `  const v${i} = ${i};\n`).join('')}}\n`;

describe('the size check', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('flags a file over 400 lines and functions over 120 of every kind, nested ones included, and nothing at the limits', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sizes-'));
    dirs.push(root);
    const put = async (path: string, text: string) => {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    };
    const body = (lines: number) => Array.from({ length: lines - 2 }, (_, i) => `    v${i};\n`).join('');
    await put('short.ts', functionOf('atTheLimit', 120));
    await put('long-function.ts', functionOf('tooLong', 121));
    await put('long-file.ts', `${'export const x = 1;\n'.repeat(401)}`);
    await put('exactly-400.ts', `${'export const y = 1;\n'.repeat(400)}`);
    // One file per kind of function, so each offender's first line is known.
    await put('method.mjs', `export class Holder {\n  method() {\n${body(121)}  }\n}\n`);
    await put('arrow.ts', `export const arrow = () => {\n${body(121)}};\n`);
    await put('nested.ts', `export function outer() {\n  const inner = function () {\n${body(125)}  };\n  return inner;\n}\n`);
    await put('callback.mjs', `run(() => {\n${body(121)}});\n`);
    expect(sizeViolations(root)).toEqual([
      'arrow.ts:1 arrow 121 lines (limit 120)',
      'callback.mjs:1 (callback to run) 121 lines (limit 120)',
      'long-file.ts:1 (file) 401 lines (limit 400)',
      'long-function.ts:1 tooLong 121 lines (limit 120)',
      'method.mjs:2 method 121 lines (limit 120)',
      'nested.ts:1 outer 128 lines (limit 120)',
      'nested.ts:2 inner 125 lines (limit 120)',
    ]);
    expect(sizeViolations(root, { exempt: { 'long-file.ts': 'a generated table' } })).not.toContain(
      'long-file.ts:1 (file) 401 lines (limit 400)',
    );
  });
});
