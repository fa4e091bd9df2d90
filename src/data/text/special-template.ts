import { check } from '../../errors.js';

/** One part of an encoded row: special token ids, or the content of the first (`A`) or second (`B`) text. */
export type TemplatePiece =
  | { readonly kind: 'special'; readonly ids: readonly number[]; readonly typeId: number }
  | { readonly kind: 'sequence'; readonly sequence: 'A' | 'B'; readonly typeId: number };

/**
 * Where a tokenizer puts its special tokens (`[CLS] A [SEP] B [SEP]`, `<s> A </s></s> B </s>`, `A </s>`)
 * and which segment id each part gets, for a single text and for a pair, read from the post-processor
 * of `tokenizer.json`. Truncation cuts only the `sequence` parts, so the special tokens always stay.
 */
export interface SpecialTemplate {
  readonly single: readonly TemplatePiece[];
  readonly pair: readonly TemplatePiece[];
}

/** The special tokens a template adds around the content. */
export function specialTokenCount(pieces: readonly TemplatePiece[]): number {
  let count = 0;
  for (const piece of pieces) if (piece.kind === 'special') count += piece.ids.length;
  return count;
}

type Json = Record<string, unknown>;

const A = (typeId: number): TemplatePiece => ({ kind: 'sequence', sequence: 'A', typeId });
const B = (typeId: number): TemplatePiece => ({ kind: 'sequence', sequence: 'B', typeId });
const special = (ids: number[], typeId: number): TemplatePiece => ({ kind: 'special', ids, typeId });

/** With no post-processor the texts are joined as they are, the second with segment id 1 (as the Rust library does). */
const PLAIN: SpecialTemplate = { single: [A(0)], pair: [A(0), B(1)] };

/** `[token, id]` as BertProcessing and RobertaProcessing write `cls` and `sep`. */
function tokenIdOf(value: unknown, source: string): number {
  check(Array.isArray(value) && typeof value[1] === 'number', `${source}: a cls/sep entry is not [token, id]; fix the file`, ['tokenizer']);
  return value[1];
}

function templatePieces(items: unknown, specials: Json, source: string): TemplatePiece[] {
  check(Array.isArray(items), `${source}: TemplateProcessing has no single/pair template; fix the file`, ['tokenizer']);
  return items.map((item: Json) => {
    if ('Sequence' in item) {
      const { id, type_id } = item.Sequence as { id: 'A' | 'B'; type_id: number };
      return id === 'B' ? B(type_id) : A(type_id);
    }
    const { id, type_id } = item.SpecialToken as { id: string; type_id: number };
    const entry = specials[id] as { ids?: number[] } | undefined;
    check(entry?.ids, `${source}: the template's special token ${id} is not among its special_tokens; fix the file`, ['tokenizer']);
    return special(entry.ids, type_id);
  });
}

/**
 * The template of a `tokenizer.json` post-processor: TemplateProcessing, BertProcessing,
 * RobertaProcessing, ByteLevel (adds nothing), a Sequence of those, or none.
 */
export function specialTemplate(postProcessor: unknown, source: string): SpecialTemplate {
  if (postProcessor === null || postProcessor === undefined) return PLAIN;
  const config = postProcessor as Json;
  switch (config.type) {
    case 'ByteLevel':
      return PLAIN;
    case 'TemplateProcessing': {
      const specials = (config.special_tokens ?? {}) as Json;
      return { single: templatePieces(config.single, specials, source), pair: templatePieces(config.pair, specials, source) };
    }
    case 'BertProcessing': {
      const cls = tokenIdOf(config.cls, source);
      const sep = tokenIdOf(config.sep, source);
      return {
        single: [special([cls], 0), A(0), special([sep], 0)],
        pair: [special([cls], 0), A(0), special([sep], 0), B(1), special([sep], 1)],
      };
    }
    case 'RobertaProcessing': {
      const cls = tokenIdOf(config.cls, source);
      const sep = tokenIdOf(config.sep, source);
      return {
        single: [special([cls], 0), A(0), special([sep], 0)],
        // RoBERTa has no segment embedding: the Rust library gives the whole pair segment id 0.
        pair: [special([cls], 0), A(0), special([sep], 0), special([sep], 0), B(0), special([sep], 0)],
      };
    }
    case 'Sequence': {
      // The processors that add special tokens decide the layout; ByteLevel only trims offsets.
      const templates = ((config.processors ?? []) as unknown[]).map((processor) => specialTemplate(processor, source));
      return templates.reverse().find((template) => template !== PLAIN) ?? PLAIN;
    }
    default:
      check(
        false,
        `${source}: post-processor ${String(config.type)} is not supported; use a tokenizer.json with a TemplateProcessing, BertProcessing, RobertaProcessing or ByteLevel post-processor`,
        ['tokenizer'],
      );
  }
}
