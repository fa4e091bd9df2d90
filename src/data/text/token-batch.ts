import { check } from '../../errors.js';
import type { TokenTable } from './token-table.js';
import type { TextTokenizer } from './tokenizer.js';

/** Rows to encode: their texts and, for sentence pairs, the second text of each. */
export interface TextRows {
  readonly texts: readonly string[];
  /** The second text of each row (sentence-pair tasks); as many as `texts`. */
  readonly pairs?: readonly string[];
}

/**
 * Encodes rows straight into a token table from row `firstRow` on: ids (padded with the pad id), lengths,
 * and the segment ids and attention mask where the table has them. Each row is truncated to the table's
 * `maxLength`. A worker given a shared table writes its slice of rows this way, with no per-row arrays kept.
 */
export function encodeRowsInto(tokenizer: TextTokenizer, rows: TextRows, table: TokenTable, firstRow = 0): void {
  const { texts, pairs } = rows;
  const { maxLength, ids, lengths, typeIds, attentionMask } = table;
  check(
    pairs === undefined || pairs.length === texts.length,
    `pairs has ${pairs?.length} texts for ${texts.length} rows; give one per row`,
    ['pairs'],
  );
  check(
    Number.isInteger(firstRow) && firstRow >= 0 && firstRow + texts.length <= lengths.length,
    `rows ${firstRow}..${firstRow + texts.length} do not fit a token table of ${lengths.length} rows`,
    ['firstRow'],
  );
  check(pairs === undefined || typeIds !== undefined, 'sentence pairs need a token table with typeIds; allocate it with pairs: true', [
    'pairs',
  ]);
  tokenizer.resolveMaxLength(maxLength);
  const maxId = ids instanceof Uint8Array ? 0xff : ids instanceof Uint16Array ? 0xffff : 0x7fffffff;
  check(
    tokenizer.vocabSize - 1 <= maxId,
    `the token table's ${ids.constructor.name} cannot hold ids up to ${tokenizer.vocabSize - 1}; allocate it for this vocabulary`,
    ['vocabSize'],
  );
  for (let index = 0; index < texts.length; index++) {
    const row = firstRow + index;
    const offset = row * maxLength;
    const length = tokenizer.encodeInto(texts[index], pairs?.[index], ids, typeIds, offset, maxLength);
    lengths[row] = length;
    if (attentionMask) {
      attentionMask.fill(1, offset, offset + length);
      attentionMask.fill(0, offset + length, offset + maxLength);
    }
  }
}
