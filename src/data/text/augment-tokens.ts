import { check } from '../../errors.js';
import { mixSeed, mulberry32 } from '../../random.js';
import { idTypeOf, newIds } from './tokenised-file.js';
import type { TokenIdArray } from './token-table.js';
import type { TextTokenizer } from './tokenizer.js';

/** A row of token ids: the integer rows text data is loaded as, or float32 ids. */
type IdRow = Float32Array | TokenIdArray;

/**
 * Augmented copies of text rows for the transfer set, after Tang et al. (2019): each copy masks tokens and
 * may be cut down to one n-gram; the teacher labels the copies like any other row.
 */
export interface TextAugment {
  /** The probability that a content token is replaced by the mask token (else the unknown token). */
  mask?: number;
  /** The probability that a copy keeps only a random n-gram (1 to 5 tokens) of its content, special tokens kept. */
  ngram?: number;
  /** Copies of each training row. */
  copies: number;
}

/** The longest n-gram n-gram sampling keeps. */
export const MAX_NGRAM = 5;

/** The ids augmentation needs, as the token table holds them (padding moved to 0). */
export interface AugmentIds {
  /** What masking writes: the mask token, else the unknown token. */
  maskId: number;
  /** Special tokens: never masked, always kept. */
  specialIds: ReadonlySet<number>;
}

/** Seed stream of augmentation, apart from the run's other uses of the seed. */
const AUGMENT_STREAM = 21;

/** A one-line problem with a text augmentation setting, or undefined. */
export function textAugmentProblem(augment: TextAugment): string | undefined {
  const probability = (value: number | undefined) => value === undefined || (Number.isFinite(value) && value >= 0 && value <= 1);
  if (!probability(augment.mask) || !probability(augment.ngram)) {
    return `augment mask and ngram are probabilities in [0, 1], got mask ${augment.mask}, ngram ${augment.ngram}`;
  }
  if (!augment.mask && !augment.ngram) return 'augment for text needs mask:P and/or ngram:P above 0, or the copies equal their rows';
  if (!Number.isInteger(augment.copies) || augment.copies < 1) return `augmentCopies must be an integer >= 1, got ${augment.copies}`;
  return undefined;
}

/**
 * The mask and special ids of a tokenizer, as a token table holds them: the table swaps the pad id and 0
 * (see tokeniseFiles), so these are swapped too.
 */
export function augmentIds(tokenizer: TextTokenizer, addedTokens: unknown, augment: TextAugment): AugmentIds {
  const pad = tokenizer.padId;
  const inTable = (id: number) => (id === pad ? 0 : id === 0 ? pad : id);
  const special = new Set<number>();
  for (const piece of [...tokenizer.template.single, ...tokenizer.template.pair]) {
    if (piece.kind === 'special') for (const id of piece.ids) special.add(inTable(id));
  }
  if (Array.isArray(addedTokens)) {
    for (const token of addedTokens as { id?: unknown; special?: unknown }[]) {
      if (token?.special === true && typeof token.id === 'number') special.add(inTable(token.id));
    }
  }
  special.delete(0);
  const mask = tokenizer.maskId ?? tokenizer.unknownId;
  check(
    mask !== undefined || !augment.mask,
    `augment mask needs a mask or unknown token, and ${tokenizer.source} has neither; drop mask or use ngram`,
    ['augment'],
  );
  return { maskId: mask === undefined ? 0 : inTable(mask), specialIds: special };
}

/**
 * Row `row`'s copy `copy`: masking, then n-gram sampling, from `source` (a padded row, padding 0) into
 * `target` (zeroed, as wide). The draws come from the seed, the row and the copy alone, so any split of
 * the work gives the same copies.
 */
export function augmentRow(
  source: IdRow,
  target: IdRow,
  ids: AugmentIds,
  augment: TextAugment,
  seed: number,
  row: number,
  copy: number,
): void {
  const random = mulberry32(mixSeed(seed, AUGMENT_STREAM, row, copy));
  const { specialIds, maskId } = ids;
  let length = 0;
  while (length < source.length && source[length] !== 0) length++;
  let contentTokens = 0;
  for (let i = 0; i < length; i++) {
    const id = source[i];
    const special = specialIds.has(id);
    if (!special) contentTokens++;
    target[i] = !special && augment.mask && random() < augment.mask ? maskId : id;
  }
  if (!augment.ngram || contentTokens === 0 || random() >= augment.ngram) return;
  const n = Math.min(1 + Math.floor(random() * MAX_NGRAM), contentTokens);
  const first = Math.floor(random() * (contentTokens - n + 1));
  // Keep the special tokens where they stand among the kept content, and the content tokens [first, first + n).
  let kept = 0;
  let content = 0;
  for (let i = 0; i < length; i++) {
    const special = specialIds.has(source[i]);
    if (special || (content >= first && content < first + n)) target[kept++] = target[i];
    if (!special) content++;
  }
  target.fill(0, kept, length);
}

/**
 * The rows followed by `copies` augmented copies of each (copy c of row r at row (1 + c) * rows + r), in
 * shared memory and in the rows' own type; the copies are unlabeled (-1), so they join the transfer set only.
 */
export function withAugmentedCopies<T extends IdRow>(
  x: T,
  y: Int32Array,
  width: number,
  ids: AugmentIds,
  augment: TextAugment,
  seed: number,
): { x: T; y: Int32Array } {
  const rows = y.length;
  const total = rows * (1 + augment.copies);
  const cells = total * width;
  const out = (
    x instanceof Float32Array
      ? new Float32Array(new SharedArrayBuffer(cells * Float32Array.BYTES_PER_ELEMENT))
      : newIds(idTypeOf(x), cells, true)
  ) as T;
  out.set(x.subarray(0, rows * width));
  for (let copy = 0; copy < augment.copies; copy++) {
    for (let row = 0; row < rows; row++) {
      const at = ((1 + copy) * rows + row) * width;
      augmentRow(x.subarray(row * width, (row + 1) * width), out.subarray(at, at + width), ids, augment, seed, row, copy);
    }
  }
  const labels = new Int32Array(total).fill(-1);
  labels.set(y);
  return { x: out, y: labels };
}
