import { Tokenizer } from '@huggingface/tokenizers';
import { check, messageOf } from '../../errors.js';
import { cutsLongTexts, prefixCutAfter } from './prefix-cut.js';
import { type SpecialTemplate, specialTemplate, specialTokenCount, type TemplatePiece } from './special-template.js';
import type { TokenIdArray } from './token-table.js';
import { truncatedLengths } from './truncation.js';
import { type CountedLength, countedLengthRule } from './word-counts.js';
import type { TokenizerFiles } from './tokenizer-files.js';

/** The tokenizer models `@huggingface/tokenizers` implements. */
export type TokenizerModelType = 'BPE' | 'WordPiece' | 'Unigram';

const MODEL_TYPES: readonly string[] = ['BPE', 'WordPiece', 'Unigram'];

/** Where the first prefix of a long text is cut: this many characters per token of the row... */
const INITIAL_CHARS_PER_TOKEN = 4;
/** ...times this margin, plus a few characters, so that a prefix seldom falls short and is cut again. */
const PREFIX_MARGIN = 1.3;
const PREFIX_SLACK = 16;
/** The weight of each prefix in the running characters-per-token estimate. */
const ESTIMATE_WEIGHT = 0.1;

/** Settings of {@link TextTokenizer}. */
export interface TextTokenizerOptions {
  /**
   * The most tokens a row may have, special tokens included. Defaults to the file's `truncation.max_length`,
   * else `tokenizer_config.json`'s `model_max_length`.
   */
  readonly maxLength?: number;
}

/** One text (or pair) encoded, truncated and padded. */
export interface EncodedText {
  readonly ids: number[];
  /** `1` on the real tokens, `0` on the padding. */
  readonly attentionMask: number[];
  /** The segment of each token: `0` for the first text, `1` for the second as the tokenizer's template says. */
  readonly typeIds: number[];
  /** The count of real tokens. */
  readonly length: number;
}

/** A special-token setting of `tokenizer_config.json`: a string or an AddedToken object. */
function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * `model_max_length`, unless it is one of the huge values Hugging Face writes for "no limit"
 * (`int(1e30)`, `int(1e20)`): any value past the safe integers is one of those.
 */
function configMaxLength(config: Record<string, unknown>): number | undefined {
  const value = config.model_max_length;
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * The config less the settings only Python's slow tokenizers apply (`remove_space`,
 * `do_lowercase_and_remove_accent`): `@huggingface/tokenizers` would apply them on top of `tokenizer.json`,
 * while the Rust library, and so Python's fast tokenizers, follow `tokenizer.json` alone.
 */
function fastTokenizerConfig(config: Record<string, unknown>): Record<string, unknown> {
  const { remove_space: _removeSpace, do_lowercase_and_remove_accent: _lowercase, ...rest } = config;
  return rest;
}

/**
 * A Hugging Face tokenizer (WordPiece, BPE or Unigram `tokenizer.json`) with what `@huggingface/tokenizers`
 * leaves out: truncation as Hugging Face's Rust library does it (special tokens kept, content cut, pairs cut
 * longest first), padding, the attention mask, segment ids of pairs and encoding straight into typed arrays.
 * Plain JavaScript: it runs in worker threads and browsers.
 *
 * Its ids equal the Rust library's except in two measured cases, both in `@huggingface/tokenizers`
 * (docs/text-tokenizers.md): where a Unigram lattice has several segmentations of equal score (a run of one
 * repeated character) it may pick another one, the same pieces in another order; and its Precompiled
 * normaliser keeps the combining marks after a character the SentencePiece map changes, as SentencePiece
 * does, where Rust drops them or leaves them unordered (U+FFFD followed by marks, in mis-decoded text).
 */
export class TextTokenizer {
  readonly modelType: TokenizerModelType;
  /** One more than the largest token id (added tokens included): the size of a model's embedding table. */
  readonly vocabSize: number;
  /** The default row length, or undefined when neither the files nor the options give one. */
  readonly maxLength: number | undefined;
  /** The id padding is filled with: the file's padding `pad_id`, else the pad token's, else 0. */
  readonly padId: number;
  /** The segment id of padding: the file's padding `pad_type_id`, else 0. */
  readonly padTypeId: number;
  /** The unknown token's id (`[UNK]`, `<unk>`), when the tokenizer has one. */
  readonly unknownId: number | undefined;
  /** The mask token's id (`[MASK]`, `<mask>`), when the tokenizer has one. */
  readonly maskId: number | undefined;
  /** Where the special tokens go, for a single text and for a pair. */
  readonly template: SpecialTemplate;
  /** Where the tokenizer was read from, for messages. */
  readonly source: string;
  private readonly tokenizer: Tokenizer;
  private readonly countedLength: CountedLength;
  /** A long single text may be tokenised from a prefix (prefix-cut.ts). */
  private readonly cutsLongTexts: boolean;
  /** Characters per content token, as the prefixes tokenised so far show: where the next prefix is cut. */
  private charsPerToken = INITIAL_CHARS_PER_TOKEN;

  constructor(files: TokenizerFiles, options: TextTokenizerOptions = {}) {
    const { tokenizerJson, config, source } = files;
    const model = tokenizerJson.model as { type?: unknown } | undefined;
    check(model && typeof model === 'object', `${source} has no model; it is not a Hugging Face tokenizer.json`, ['tokenizer']);
    check(
      MODEL_TYPES.includes(model.type as string),
      `${source}: tokenizer model ${String(model.type)} is not supported; use a BPE, WordPiece or Unigram tokenizer.json`,
      ['tokenizer'],
    );
    this.modelType = model.type as TokenizerModelType;
    this.source = source;
    this.template = specialTemplate(tokenizerJson.post_processor, source);
    try {
      this.tokenizer = new Tokenizer(tokenizerJson, fastTokenizerConfig(config));
    } catch (error) {
      check(false, `${source} cannot be loaded (${messageOf(error)}); replace it with the file the model was exported with`, ['tokenizer']);
    }
    this.cutsLongTexts = cutsLongTexts(tokenizerJson);
    this.countedLength = countedLengthRule(tokenizerJson, (text) => {
      const normalized = this.normalize(text);
      return this.tokenizer.pre_tokenizer ? this.tokenizer.pre_tokenizer.pre_tokenize(normalized) : [normalized];
    });
    const tokenModel = this.tokenizer.model!;
    this.vocabSize = tokenModel.vocab.length;
    const idOf = (name: string | undefined) => (name === undefined ? undefined : this.tokenizer.token_to_id(name));
    const padding = tokenizerJson.padding as { pad_id?: number; pad_type_id?: number } | null | undefined;
    this.padId = padding?.pad_id ?? idOf(tokenName(config.pad_token)) ?? 0;
    this.padTypeId = padding?.pad_type_id ?? 0;
    this.unknownId = tokenModel.unk_token_id ?? idOf(tokenName(config.unk_token));
    this.maskId = idOf(tokenName(config.mask_token)) ?? idOf('[MASK]') ?? idOf('<mask>');
    const truncation = tokenizerJson.truncation as { max_length?: number } | null | undefined;
    this.maxLength = options.maxLength ?? truncation?.max_length ?? configMaxLength(config);
    if (this.maxLength !== undefined) this.checkMaxLength(this.maxLength);
  }

  /** The token ids of a text without special tokens, truncation or padding. */
  contentIds(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** The text as the tokenizer's normaliser leaves it (lower-cased, accents stripped... as the file says). */
  normalize(text: string): string {
    return this.tokenizer.normalizer?.(text) ?? text;
  }

  /** The token id of a token string, if the vocabulary has it. */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /**
   * Encodes a text (and a second one for sentence pairs), truncated to `maxLength` and padded to `padTo`
   * (default: no padding).
   */
  encode(text: string, pair?: string, settings: { maxLength?: number; padTo?: number } = {}): EncodedText {
    const maxLength = this.resolveMaxLength(settings.maxLength);
    const ids = new Int32Array(Math.max(maxLength, settings.padTo ?? 0)).fill(this.padId);
    const typeIds = new Uint8Array(ids.length).fill(this.padTypeId);
    const length = this.encodeInto(text, pair, ids, typeIds, 0, maxLength);
    const width = settings.padTo ?? length;
    check(width >= length, `padTo ${width} is below the row's ${length} tokens; pad to at least maxLength (${maxLength})`, ['padTo']);
    return {
      ids: Array.from(ids.subarray(0, width)),
      attentionMask: Array.from({ length: width }, (_, index) => (index < length ? 1 : 0)),
      typeIds: Array.from(typeIds.subarray(0, width)),
      length,
    };
  }

  /**
   * Encodes a text (or pair) into `ids[offset .. offset + maxLength)`, padding the rest of that span with the
   * pad id (and `typeIds` with the pad segment id), and returns the row's count of real tokens.
   */
  encodeInto(
    text: string,
    pair: string | undefined,
    ids: TokenIdArray,
    typeIds: Uint8Array | undefined,
    offset: number,
    maxLength: number,
  ): number {
    const pieces = pair === undefined ? this.template.single : this.template.pair;
    const budget = maxLength - specialTokenCount(pieces);
    check(budget > 0, `maxLength ${maxLength} leaves no room for text beside ${specialTokenCount(pieces)} special tokens; raise it`, [
      'maxLength',
    ]);
    const first = pair === undefined ? this.leadingContentIds(text, budget) : this.contentIds(text);
    const second = pair === undefined ? undefined : this.contentIds(pair);
    const [firstLength, secondLength] = this.pairLengths(text, first, pair, second, maxLength, budget);
    let at = offset;
    for (const piece of pieces) at = this.writePiece(piece, first, firstLength, second, secondLength, ids, typeIds, at);
    const length = at - offset;
    ids.fill(this.padId, at, offset + maxLength);
    typeIds?.fill(this.padTypeId, at, offset + maxLength);
    return length;
  }

  /**
   * A single text's content ids, of which a row keeps the first `budget`: those of a prefix cut at a space
   * once it has at least `budget` tokens (prefix-cut.ts says when that is exact), else of the whole text.
   * A prefix that falls short is cut again twice as long.
   */
  private leadingContentIds(text: string, budget: number): number[] {
    if (!this.cutsLongTexts) return this.contentIds(text);
    let chars = Math.ceil(budget * this.charsPerToken * PREFIX_MARGIN) + PREFIX_SLACK;
    for (let cut = prefixCutAfter(text, chars); cut > 0; cut = prefixCutAfter(text, chars)) {
      const ids = this.contentIds(text.slice(0, cut));
      if (ids.length > 0) this.charsPerToken += (cut / ids.length - this.charsPerToken) * ESTIMATE_WEIGHT;
      if (ids.length >= budget) return ids;
      chars = Math.max(2 * chars, cut + 1);
    }
    return this.contentIds(text);
  }

  /** Checks a row length this tokenizer can fill, and returns it. */
  resolveMaxLength(maxLength: number | undefined = this.maxLength): number {
    check(maxLength !== undefined, `${this.source} sets no maximum length (no truncation.max_length or model_max_length); give maxLength`, [
      'maxLength',
    ]);
    this.checkMaxLength(maxLength);
    return maxLength;
  }

  private checkMaxLength(maxLength: number): void {
    const needed = specialTokenCount(this.template.pair) + 2;
    check(
      Number.isInteger(maxLength) && maxLength >= needed,
      `maxLength must be an integer of at least ${needed} (the special tokens of a pair and one token of each text), got ${maxLength}`,
      ['maxLength'],
    );
  }

  /**
   * How many content tokens of each text stay. When both texts of a pair reach `maxLength` and the room is
   * odd, the extra token goes where the Rust encoder puts it: by its counts, which stop at the end of the
   * word that reaches `maxLength` (word-counts.ts).
   */
  private pairLengths(
    text: string,
    first: number[],
    pair: string | undefined,
    second: number[] | undefined,
    maxLength: number,
    budget: number,
  ) {
    if (pair === undefined || second === undefined || first.length < maxLength || second.length < maxLength || budget % 2 === 0) {
      return truncatedLengths(first.length, second?.length, budget);
    }
    const counted = (input: string) =>
      this.countedLength(this.tokenizer.encode(input, { add_special_tokens: false }).tokens, input, maxLength);
    return truncatedLengths(counted(text), counted(pair), budget);
  }

  private writePiece(
    piece: TemplatePiece,
    first: number[],
    firstLength: number,
    second: number[] | undefined,
    secondLength: number,
    ids: TokenIdArray,
    typeIds: Uint8Array | undefined,
    at: number,
  ): number {
    const source = piece.kind === 'special' ? piece.ids : piece.sequence === 'A' ? first : (second ?? []);
    const count = piece.kind === 'special' ? piece.ids.length : piece.sequence === 'A' ? firstLength : secondLength;
    for (let index = 0; index < count; index++) ids[at + index] = source[index];
    typeIds?.fill(piece.typeId, at, at + count);
    return at + count;
  }
}
