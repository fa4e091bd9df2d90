import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cutsLongTexts, prefixCutAfter } from '../dist/data/text/prefix-cut.js';
import { specialTokenCount } from '../dist/data/text/special-template.js';
import { loadTokenizer } from '../dist/data/text/tokenizer-files.js';
import { spamAssassinTexts, TOKENIZER_DIRS, writeBertUncased } from './helpers/tokenizer-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'text-prefix-cut-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
mkdirSync(join(work, 'bert'));
const BERT = writeBertUncased(join(work, 'bert'));

const tokenizerJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));

type Tokenizer = ReturnType<typeof loadTokenizer>;

/** A row as the whole text's content ids give it: the first of them in the single-text template, padded. */
function wholeTextRow(tokenizer: Tokenizer, content: number[], maxLength: number): number[] {
  const pieces = tokenizer.template.single;
  const kept = content.slice(0, maxLength - specialTokenCount(pieces));
  const ids = pieces.flatMap((piece) => (piece.kind === 'special' ? piece.ids : kept));
  return [...ids, ...new Array(maxLength - ids.length).fill(tokenizer.padId)];
}

// Long real e-mails (headers, URLs, quoted replies, non-ASCII), most far past every row length below.
const TEXTS = spamAssassinTexts(40, 4000);

describe('tokenising a long text from a prefix', () => {
  it('applies to the fixture tokenizers whose stages are local at a space, and not to the others', () => {
    expect(cutsLongTexts(tokenizerJson(TOKENIZER_DIRS.unigram))).toBe(true);
    expect(cutsLongTexts(tokenizerJson(TOKENIZER_DIRS.byteLevelBpe))).toBe(true);
    expect(cutsLongTexts(tokenizerJson(BERT))).toBe(true);
    // Llama 2: no pre-tokenizer, spaces replaced by the word marker: one word, never cut.
    expect(cutsLongTexts(tokenizerJson(TOKENIZER_DIRS.sentencePieceBpe))).toBe(false);
    const unigram = tokenizerJson(TOKENIZER_DIRS.unigram);
    const withPiece = (piece: string) => ({ ...unigram, model: { ...unigram.model, vocab: [...unigram.model.vocab, [piece, -20]] } });
    expect(cutsLongTexts(withPiece('a\u2581b'))).toBe(false); // a piece that crosses a word start
    expect(cutsLongTexts({ ...unigram, normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '_' } })).toBe(false);
    expect(cutsLongTexts({ ...unigram, added_tokens: [{ id: 4000, content: 'new york', special: false }] })).toBe(false);
    const bert = tokenizerJson(BERT);
    expect(cutsLongTexts({ ...bert, pre_tokenizer: { type: 'Split', pattern: { Regex: '\\s' }, behavior: 'Removed' } })).toBe(false);
  });

  it('cuts only at a lone space between printable ASCII characters', () => {
    expect(prefixCutAfter('ab cd ef', 0)).toBe(2);
    expect(prefixCutAfter('ab cd ef', 3)).toBe(5);
    expect(prefixCutAfter('ab cd ef', 6)).toBe(-1);
    // Not beside another space, a non-ASCII letter or a combining mark (which may join the space's grapheme).
    expect(prefixCutAfter('ab  cd\u00e9 f\u0301 gh', 0)).toBe(-1);
    expect(prefixCutAfter('a\t b', 0)).toBe(-1);
    expect(prefixCutAfter('é b', 0)).toBe(-1);
  });

  it.each([
    ['Unigram', TOKENIZER_DIRS.unigram],
    ['byte-level BPE', TOKENIZER_DIRS.byteLevelBpe],
    ['WordPiece', BERT],
  ])(
    '%s: every row equals the whole text row, at every length',
    (_name, dir) => {
      const tokenizer = loadTokenizer(dir);
      for (const text of TEXTS) {
        const content = tokenizer.contentIds(text);
        for (const maxLength of [8, 33, 128, 512]) {
          expect(tokenizer.encode(text, undefined, { maxLength, padTo: maxLength }).ids).toEqual(
            wholeTextRow(tokenizer, content, maxLength),
          );
        }
      }
    },
    600_000,
  );
});
