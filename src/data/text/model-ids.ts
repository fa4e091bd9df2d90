import type { TokenIdArray } from './token-table.js';

/**
 * Token ids as the text models take them: padding is id 0, so a tokenizer whose pad id `padId` is not 0
 * (RoBERTa: `<pad>` 1, `<s>` 0) has ids `padId` and 0 swapped, which keeps every id below the vocabulary
 * size. Training and the shipped student's `predict` both map ids this way. Node-free: the browser entry uses it.
 */
export function toModelIds(ids: TokenIdArray | readonly number[], padId: number, target: Float32Array | TokenIdArray): void {
  for (let cell = 0; cell < target.length; cell++) {
    const id = ids[cell];
    target[cell] = id === padId ? 0 : id === 0 ? padId : id;
  }
}
