import type { TemplatePiece } from './special-template.js';
import type { TextTokenizer } from './tokenizer.js';

/**
 * How token-id rows were made, as a model fed the tokenizer's own ids (an ONNX text teacher) needs to
 * rebuild them from the rows: the rows hold the pad id as 0 (and 0 as the pad id), padding on the right.
 * Small, plain data: it travels with every inference task.
 */
export interface TokenRowsInfo {
  /** Where the tokenizer was read from, for messages. */
  readonly tokenizer: string;
  /** The row width: the most tokens a row has, special tokens included. */
  readonly maxLength: number;
  /** One more than the tokenizer's largest id. */
  readonly vocabSize: number;
  /** The tokenizer's pad id, which the rows hold as 0 (see tokenised-file.ts). */
  readonly padId: number;
  /** The segment id of padding. */
  readonly padTypeId: number;
  /** Where the special tokens of a row go (the pair template for sentence pairs): its segment ids follow from it. */
  readonly template: readonly TemplatePiece[];
  /** The rows are sentence pairs. */
  readonly pairs: boolean;
}

/** What a tokenizer's rows of `maxLength` tokens (pairs or not) are, for {@link TokenRowsInfo}. */
export function tokenRowsInfo(tokenizer: TextTokenizer, maxLength: number, pairs: boolean): TokenRowsInfo {
  return {
    tokenizer: tokenizer.source,
    maxLength,
    vocabSize: tokenizer.vocabSize,
    padId: tokenizer.padId,
    padTypeId: tokenizer.padTypeId,
    template: pairs ? tokenizer.template.pair : tokenizer.template.single,
    pairs,
  };
}

/** A row's token id as the tokenizer wrote it: the rows swap the pad id and 0. */
export function tokenizerId(rowId: number, padId: number): number {
  return rowId === 0 ? padId : rowId === padId ? 0 : rowId;
}

/** A row's count of real tokens: padding (0 in the rows) sits on the right. */
export function rowLength(row: ArrayLike<number>, start: number, width: number): number {
  let length = width;
  while (length > 0 && row[start + length - 1] === 0) length--;
  return length;
}

/**
 * Writes the segment ids of a row of `length` tokens into `out[at ..]`, as the template lays it out: the
 * special tokens are where it puts them, so the first text ends where the next run of special tokens
 * (the separator) first appears. Returns false when the row does not follow the template.
 */
export function writeSegmentIds(
  ids: ArrayLike<number>,
  start: number,
  length: number,
  info: Pick<TokenRowsInfo, 'template' | 'padId'>,
  out: { [index: number]: number },
  at: number,
): boolean {
  const pieces = info.template;
  const specialsAfter = (index: number) =>
    pieces.slice(index).reduce((sum, piece) => sum + (piece.kind === 'special' ? piece.ids.length : 0), 0);
  let position = 0;
  for (let index = 0; index < pieces.length; index++) {
    const piece = pieces[index];
    let count: number;
    if (piece.kind === 'special') count = piece.ids.length;
    else {
      const next = pieces[index + 1];
      const last = pieces.slice(index + 1).every((later) => later.kind === 'special');
      if (last) count = length - position - specialsAfter(index + 1);
      else if (next?.kind !== 'special') return false;
      else {
        count = -1;
        for (let cursor = position; cursor + next.ids.length <= length; cursor++) {
          if (next.ids.every((id, k) => tokenizerId(ids[start + cursor + k], info.padId) === id)) {
            count = cursor - position;
            break;
          }
        }
        if (count < 0) return false;
      }
    }
    if (count < 0 || position + count > length) return false;
    for (let k = 0; k < count; k++) out[at + position + k] = piece.typeId;
    position += count;
  }
  return position === length;
}
