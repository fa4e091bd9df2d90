/**
 * How many content tokens of each text stay when a row has room for `budget` of them (its maximum length
 * less the special tokens), cut as Hugging Face's Rust library (`LongestFirst`, from the right) cuts them,
 * which Python's fast tokenizers use:
 * - a single text keeps its first `budget` tokens;
 * - of a pair, the shorter text stays whole and the longer takes the rest, when that leaves the longer at
 *   least as long as the shorter;
 * - otherwise each keeps half the budget, an odd budget's extra token going to the longer text (to the
 *   second on a tie).
 *
 * The Rust encoder counts a text's tokens only up to the end of the word that reaches the row's maximum
 * length, and applies these rules to those counts: so when both texts of a pair reach the maximum length, a
 * caller passes those counts (word-counts.ts) to place an odd budget's extra token as Rust does.
 *
 * Python's slow tokenizers (`truncate_sequences`) remove one token at a time from the longer text instead;
 * they too can place an odd budget's extra token on the other text.
 */
export function truncatedLengths(first: number, second: number | undefined, budget: number): [number, number] {
  if (second === undefined) return [Math.min(first, budget), 0];
  if (first + second <= budget) return [first, second];
  const swap = first > second;
  let shorter = swap ? second : first;
  let longer = shorter > budget ? shorter : Math.max(shorter, budget - shorter);
  if (shorter + longer > budget) {
    shorter = Math.floor(budget / 2);
    longer = shorter + (budget % 2);
  }
  return swap ? [longer, shorter] : [shorter, longer];
}
