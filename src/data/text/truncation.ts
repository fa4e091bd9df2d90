/**
 * How many content tokens of each text stay when a row has room for `budget` of them (its maximum length
 * less the special tokens), cut as Hugging Face's Rust library (`LongestFirst`, from the right) cuts them:
 * a single text keeps its first `budget` tokens; of a pair, the shorter text stays whole while the longer
 * can take the rest, and when both are too long each keeps half the budget, the odd token going to the text
 * that was longer (to the second on a tie).
 *
 * Python's slow tokenizers (`truncate_sequences`) remove one token at a time from the longer text, the
 * second on a tie; that gives the same lengths except when both texts are cut and the budget is odd, where
 * the odd token can land on the other text. The fast (Rust) tokenizers, which `AutoTokenizer` loads, match this.
 */
export function truncatedLengths(first: number, second: number | undefined, budget: number): [number, number] {
  if (second === undefined) return [Math.min(first, budget), 0];
  if (first + second <= budget) return [first, second];
  const swap = first > second;
  let shorter = swap ? second : first;
  let longer: number;
  if (shorter > budget) longer = shorter;
  else longer = Math.max(shorter, budget - shorter);
  if (shorter + longer > budget) {
    shorter = Math.floor(budget / 2);
    longer = shorter + (budget % 2);
  }
  return swap ? [longer, shorter] : [shorter, longer];
}
