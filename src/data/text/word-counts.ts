/**
 * How many of a text's tokens Hugging Face's Rust encoder counts before it truncates a row of `limit`
 * tokens: it tokenises word by word (words as the pre-tokenizer splits them) and stops at the end of the
 * word that reaches `limit`. Truncation then splits a pair's room by these counts, which decides which text
 * gets an odd room's extra token when both are that long (see truncation.ts).
 */
export type CountedLength = (tokens: readonly string[], text: string, limit: number) => number;

type Json = Record<string, unknown>;

/** The pre-tokenizer itself or, for a Sequence, the first of its parts that passes `test`. */
function findPreTokenizer(config: unknown, test: (part: Json) => boolean): Json | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const json = config as Json;
  if (test(json)) return json;
  if (json.type !== 'Sequence') return undefined;
  for (const part of (json.pretokenizers ?? []) as unknown[]) {
    const found = findPreTokenizer(part, test);
    if (found) return found;
  }
  return undefined;
}

/** Counting where a word starts at each token that `startsWord` accepts. */
function byWordStarts(startsWord: (token: string) => boolean): CountedLength {
  return (tokens, _text, limit) => {
    let count = limit;
    while (count < tokens.length && !startsWord(tokens[count])) count++;
    return Math.min(count, tokens.length);
  };
}

/**
 * Counting by the words `preTokenize` splits the normalised text into, matched to the tokens by their
 * characters (byte-level BPE writes both in the same byte alphabet). Where the tokens do not spell the words
 * out (an added token inside the text, byte fallback), the whole text counts, as if it were one word.
 */
function byWordSpelling(preTokenize: (text: string) => string[]): CountedLength {
  return (tokens, text, limit) => {
    const wordEnds = new Set<number>();
    let end = 0;
    for (const word of preTokenize(text)) wordEnds.add((end += word.length));
    if (tokens.reduce((sum, token) => sum + token.length, 0) !== end) return tokens.length;
    let spelled = 0;
    for (let index = 0; index < tokens.length; index++) {
      if (index >= limit && wordEnds.has(spelled)) return index;
      spelled += tokens[index].length;
    }
    return tokens.length;
  };
}

/**
 * The counting rule of a `tokenizer.json`: no pre-tokenizer, one word; Metaspace, words start at `▁`;
 * WordPiece, words start at every token without the `##` prefix; otherwise the pre-tokenizer's words.
 */
export function countedLengthRule(tokenizerJson: Json, preTokenize: (text: string) => string[]): CountedLength {
  const preTokenizer = tokenizerJson.pre_tokenizer;
  if (preTokenizer === null || preTokenizer === undefined) return (tokens) => tokens.length;
  const metaspace = findPreTokenizer(preTokenizer, (part) => part.type === 'Metaspace');
  if (metaspace && metaspace.split !== false) {
    const replacement = typeof metaspace.replacement === 'string' ? metaspace.replacement : '▁';
    return byWordStarts((token) => token.startsWith(replacement));
  }
  const model = tokenizerJson.model as Json;
  if (model.type === 'WordPiece') {
    const prefix = typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : '##';
    return byWordStarts((token) => !token.startsWith(prefix));
  }
  return byWordSpelling(preTokenize);
}
