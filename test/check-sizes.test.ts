import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain script without type declarations
import { sizeViolations } from '../scripts/check-sizes.mjs';

/** `lines` lines of statements, as the body of a function spanning `lines + 2` lines. */
const statements = (lines: number) => Array.from({ length: lines }, (_, i) => `    v${i};\n`).join('');

/** Source files by path, each with its functions or length just over, or just at, the limits. */
const FILES: Record<string, string> = {
  'at-the-limit.ts': `export function atTheLimit() {\n${statements(118)}}\n`,
  'long-function.ts': `export function tooLong() {\n${statements(119)}}\n`,
  'long-file.ts': 'export const x = 1;\n'.repeat(401),
  'exactly-400.ts': 'export const y = 1;\n'.repeat(400),
  // One file per kind of function, so each offender's first line is known.
  'method.mjs': `export class Holder {\n  method() {\n${statements(119)}  }\n}\n`,
  'arrow.ts': `export const arrow = () => {\n${statements(119)}};\n`,
  'deep/nested.ts': `export function outer() {\n  const inner = function () {\n${statements(123)}  };\n  return inner;\n}\n`,
  'callback.mjs': `run(() => {\n${statements(119)}});\n`,
  // C: held to the file limit only (a long C function is not parsed, so not flagged).
  'long-file.c': 'int x;\n'.repeat(401),
  'long-function.c': `void f(void) {\n${statements(200)}}\n`,
  'exactly-400.h': 'int y;\n'.repeat(400),
};

describe('the size check', () => {
  let root: string;
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('flags a file over 400 lines (C files too) and functions over 120 of every kind, nested ones included, and nothing at the limits', async () => {
    root = await mkdtemp(join(tmpdir(), 'sizes-'));
    await mkdir(join(root, 'deep'));
    for (const [path, text] of Object.entries(FILES)) await writeFile(join(root, path), text);
    expect(sizeViolations(root)).toEqual([
      'arrow.ts:1 arrow 121 lines (limit 120)',
      'callback.mjs:1 (callback to run) 121 lines (limit 120)',
      'deep/nested.ts:1 outer 128 lines (limit 120)',
      'deep/nested.ts:2 inner 125 lines (limit 120)',
      'long-file.c:1 (file) 401 lines (limit 400)',
      'long-file.ts:1 (file) 401 lines (limit 400)',
      'long-function.ts:1 tooLong 121 lines (limit 120)',
      'method.mjs:2 method 121 lines (limit 120)',
    ]);
    // A generated table named in the exemptions is not held to the file limit.
    expect(sizeViolations(root, { exempt: { 'long-file.ts': 'a generated table' } })).not.toContain(
      'long-file.ts:1 (file) 401 lines (limit 400)',
    );
  });
});
