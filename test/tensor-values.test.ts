import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { readAndDispose } from '../dist/tensor-values.js';
// @ts-expect-error: a plain script without type declarations
import { walk as sourceFiles } from '../scripts/check-layers.mjs';

/** The source of every call `tidy(...)` in `text`, its parentheses matched. */
function tidyCalls(text: string): string[] {
  const calls: string[] = [];
  for (let at = text.indexOf('tidy('); at >= 0; at = text.indexOf('tidy(', at + 1)) {
    let depth = 0;
    let end = at + 'tidy'.length;
    for (; end < text.length; end++) {
      if (text[end] === '(') depth++;
      if (text[end] === ')' && --depth === 0) break;
    }
    calls.push(text.slice(at, end + 1));
  }
  return calls;
}

/** Whether a tidy() call returns what dataSync() or arraySync() gives (a `return` of it, or an arrow's body ending in it). */
function returnsValues(call: string): boolean {
  const read = String.raw`\.(dataSync|arraySync)\(\)(\s+as\s+\w+)?`;
  return new RegExp(`return [^;]*${read};`).test(call) || new RegExp(`${read},?\\s*\\)$`).test(call);
}

describe('readAndDispose', () => {
  it("gives a tensor's values and disposes it", () => {
    const before = tf.memory().numTensors;
    const values = readAndDispose(tf.tidy(() => tf.tensor([1, 2, 3]).mul(2)));
    expect(Array.from(values)).toEqual([2, 4, 6]);
    const classes = readAndDispose<Int32Array>(tf.tidy(() => tf.tensor2d([[0, 3, 1]]).argMax(-1)));
    expect(classes).toBeInstanceOf(Int32Array);
    expect(Array.from(classes)).toEqual([1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is how src/ reads values out of a tidy(): no tidy() returns a typed array, which tfjs would walk element by element', () => {
    const offenders = (sourceFiles(join(__dirname, '..', 'src')) as string[]).flatMap((file) =>
      tidyCalls(readFileSync(file, 'utf8'))
        .filter(returnsValues)
        .map((call) => `${file}: ${call.slice(0, 80)}`),
    );
    expect(offenders).toEqual([]);
    // The scan finds the forms it guards against, and passes a value read inside for a number or flag.
    const calls = tidyCalls(
      'tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync()); tf.tidy(() => { const y = f(); return y.dataSync() as Float32Array; });' +
        ' tf.tidy(() => { slot[0] = loss.dataSync()[0]; return slot[0] < 1; });',
    );
    expect(calls.map(returnsValues)).toEqual([true, true, false]);
  });
});
