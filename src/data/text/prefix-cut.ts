/**
 * When a single text may be tokenised from a prefix instead of whole: a row keeps only its first `budget`
 * content tokens, so the tokens of a long text past them are work thrown away. A prefix cut at a space
 * gives the same first tokens as the whole text when every stage of the tokenizer is local at that space:
 *
 * - the cut is a single U+0020 between two printable ASCII characters, which no normaliser below joins to
 *   their neighbours (NFC/NFKC compose no pair ending in a space or an ASCII character after a space; a
 *   grapheme cluster cannot cross a space followed by ASCII; `' {2,}'` matches no lone space; Strip
 *   finds no whitespace at the prefix's end);
 * - the pre-tokenizer splits words at whitespace and the model encodes each word alone (BPE without
 *   fused unknowns or dropout, WordPiece), or, for Unigram after Metaspace (which `@huggingface/tokenizers`
 *   runs over a whole section, not split into words), no piece holds the word marker past its first
 *   character, so no piece crosses the cut and the lattice's best path to the cut is the prefix's; the
 *   marker alone is a piece, so the word after the cut starts with a known piece and no unknown is fused
 *   across the cut;
 * - no added token holds whitespace, so none is matched across the cut.
 *
 * Then the prefix's tokens are the whole text's first tokens, and a prefix of at least `budget` tokens
 * gives the row the whole text gives. Any other tokenizer is tokenised whole.
 */

type Json = Record<string, unknown> | null | undefined;

/** Normalisers that change no character at a lone space between printable ASCII characters, nor join across it. */
const LOCAL_NORMALIZERS = new Set([
  'NFC',
  'NFD',
  'NFKC',
  'NFKD',
  'Lowercase',
  'StripAccents',
  'Precompiled',
  'BertNormalizer',
  'Strip',
  'Prepend',
]);

/** Pre-tokenizers that end a word at every space. */
const WORD_SPLITTERS = new Set(['Whitespace', 'WhitespaceSplit', 'BertPreTokenizer', 'ByteLevel']);

/** Pre-tokenizers that only split further, at changes of character class. */
const FURTHER_SPLITTERS = new Set(['Punctuation', 'Digits']);

function localNormalizer(normalizer: Json): boolean {
  if (!normalizer) return true;
  const { type } = normalizer;
  if (type === 'Sequence') return (normalizer.normalizers as Json[] | undefined)?.every(localNormalizer) ?? false;
  if (type === 'Replace') {
    const pattern = normalizer.pattern as { Regex?: unknown } | undefined;
    return pattern?.Regex === ' {2,}' && normalizer.content === ' ';
  }
  return LOCAL_NORMALIZERS.has(type as string);
}

/** The pre-tokenizer's stages, or undefined when one of them is not known to be local. */
function preTokenizerStages(preTokenizer: Json): string[] | undefined {
  if (!preTokenizer) return undefined;
  const stages = preTokenizer.type === 'Sequence' ? ((preTokenizer.pretokenizers as Json[] | undefined) ?? []) : [preTokenizer];
  const types: string[] = [];
  for (const stage of stages) {
    if (!stage) return undefined;
    const type = stage.type as string;
    if (type === 'ByteLevel' && stage.use_regex === false) return undefined;
    if (!WORD_SPLITTERS.has(type) && !FURTHER_SPLITTERS.has(type) && type !== 'Metaspace') return undefined;
    types.push(type);
  }
  return types;
}

/** Whether texts of this `tokenizer.json` may be tokenised from a prefix cut by {@link prefixCutAfter}. */
export function cutsLongTexts(tokenizerJson: Record<string, unknown>): boolean {
  const model = tokenizerJson.model as Json;
  if (!model || !localNormalizer(tokenizerJson.normalizer as Json)) return false;
  const added = tokenizerJson.added_tokens;
  if (
    Array.isArray(added) &&
    added.some((token: { content?: unknown }) => typeof token?.content !== 'string' || /\s/.test(token.content))
  ) {
    return false;
  }
  const stages = preTokenizerStages(tokenizerJson.pre_tokenizer as Json);
  if (!stages) return false;
  if (model.type === 'Unigram') {
    if (stages.length !== 1 || stages[0] !== 'Metaspace') return false;
    const marker = ((tokenizerJson.pre_tokenizer as Record<string, unknown>).replacement as string | undefined) ?? '\u2581';
    const pieces = (model.vocab as [string, number][] | undefined) ?? [];
    return pieces.some(([piece]) => piece === marker) && pieces.every(([piece]) => !piece.includes(marker, 1));
  }
  const wordModel = model.type === 'WordPiece' || (model.type === 'BPE' && model.fuse_unk !== true && model.dropout == null);
  return wordModel && stages.some((type) => WORD_SPLITTERS.has(type)) && !stages.includes('Metaspace');
}

const isPrintableAscii = (code: number) => code > 0x20 && code < 0x7f;

/**
 * The first index at or after `from` where `text` may be cut: a single space between two printable ASCII
 * characters (the prefix is `text.slice(0, index)`); -1 when there is none.
 */
export function prefixCutAfter(text: string, from: number): number {
  for (let index = text.indexOf(' ', Math.max(1, from)); index > 0 && index < text.length - 1; index = text.indexOf(' ', index + 1)) {
    if (isPrintableAscii(text.charCodeAt(index - 1)) && isPrintableAscii(text.charCodeAt(index + 1))) return index;
  }
  return -1;
}
