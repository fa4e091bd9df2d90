import { check } from '../../errors.js';

/** The integer type of a token table's ids: the narrowest that holds every id of the vocabulary. */
export type TokenIdType = 'uint8' | 'uint16' | 'int32';

/** A typed array of token ids, as {@link TokenIdType} names it. */
export type TokenIdArray = Uint8Array | Uint16Array | Int32Array;

/**
 * Tokenised rows laid out as a table `[rows, maxLength]`, row-major and padded on the right. Every array
 * may live in a SharedArrayBuffer, so that workers write their rows straight into it.
 */
export interface TokenTable {
  /** The row width: the longest a row may be. */
  readonly maxLength: number;
  /** `rows * maxLength` token ids; the padding holds the pad id. */
  readonly ids: TokenIdArray;
  /** Each row's count of real tokens (special tokens included): the attention mask is `1` on the first `lengths[row]`. */
  readonly lengths: Int32Array;
  /** `rows * maxLength` segment ids, for sentence pairs; absent when every row is a single text. */
  readonly typeIds?: Uint8Array;
  /** `rows * maxLength` attention mask, when a caller wants it written out rather than read from `lengths`. */
  readonly attentionMask?: Uint8Array;
}

/** What {@link allocateTokenTable} lays out besides the ids and lengths. */
export interface TokenTableLayout {
  /** Also a `typeIds` array (sentence pairs). */
  readonly pairs?: boolean;
  /** Also an `attentionMask` array. */
  readonly attentionMask?: boolean;
  /** Allocate in SharedArrayBuffers (the default), so that worker threads can write the rows. */
  readonly shared?: boolean;
}

/** The narrowest integer type whose range holds the ids `0 .. vocabSize - 1`. */
export function tokenIdType(vocabSize: number): TokenIdType {
  check(Number.isInteger(vocabSize) && vocabSize > 0, `vocabSize must be a positive integer, got ${vocabSize}`, ['vocabSize']);
  if (vocabSize <= 2 ** 8) return 'uint8';
  if (vocabSize <= 2 ** 16) return 'uint16';
  check(vocabSize <= 2 ** 31, `vocabSize ${vocabSize} is beyond int32 token ids`, ['vocabSize']);
  return 'int32';
}

/** Bytes one token id takes in a table of this type. */
export function bytesPerTokenId(type: TokenIdType): number {
  return type === 'uint8' ? 1 : type === 'uint16' ? 2 : 4;
}

/** A typed array of `length` ids of this type, over `buffer` from `byteOffset`. */
export function tokenIdArray(type: TokenIdType, buffer: ArrayBufferLike, byteOffset = 0, length?: number): TokenIdArray {
  if (type === 'uint8') return new Uint8Array(buffer, byteOffset, length);
  if (type === 'uint16') return new Uint16Array(buffer, byteOffset, length);
  return new Int32Array(buffer, byteOffset, length);
}

/**
 * Bytes one row of a token table takes: `maxLength` ids, a 4-byte length, and one byte per token for each
 * of the segment ids (pairs) and the written-out attention mask when the layout has them.
 */
export function tokenTableRowBytes(maxLength: number, type: TokenIdType, layout: TokenTableLayout = {}): number {
  const perToken = bytesPerTokenId(type) + (layout.pairs ? 1 : 0) + (layout.attentionMask ? 1 : 0);
  return maxLength * perToken + Int32Array.BYTES_PER_ELEMENT;
}

/** A zeroed token table for `rows` rows of at most `maxLength` tokens from a vocabulary of `vocabSize`. */
export function allocateTokenTable(rows: number, maxLength: number, vocabSize: number, layout: TokenTableLayout = {}): TokenTable {
  check(Number.isInteger(rows) && rows >= 0, `rows must be a non-negative integer, got ${rows}`, ['rows']);
  check(Number.isInteger(maxLength) && maxLength > 0, `maxLength must be a positive integer, got ${maxLength}`, ['maxLength']);
  const type = tokenIdType(vocabSize);
  const bytes = (count: number) => (layout.shared === false ? new ArrayBuffer(count) : new SharedArrayBuffer(count));
  const cells = rows * maxLength;
  return {
    maxLength,
    ids: tokenIdArray(type, bytes(cells * bytesPerTokenId(type))),
    lengths: new Int32Array(bytes(rows * Int32Array.BYTES_PER_ELEMENT)),
    ...(layout.pairs ? { typeIds: new Uint8Array(bytes(cells)) } : {}),
    ...(layout.attentionMask ? { attentionMask: new Uint8Array(bytes(cells)) } : {}),
  };
}
