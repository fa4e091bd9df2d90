import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { check, messageOf } from '../../errors.js';
import { TextTokenizer, type TextTokenizerOptions } from './tokenizer.js';

/**
 * The two files of a Hugging Face tokenizer, parsed: `tokenizer.json` (the pipeline and vocabulary) and
 * `tokenizer_config.json` (special token names, `model_max_length`; `{}` when there is none). Plain data:
 * it crosses to worker threads with `postMessage` and is what a browser fetches.
 */
export interface TokenizerFiles {
  readonly tokenizerJson: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  /** Where `tokenizer.json` was read from, for messages. */
  readonly source: string;
  /**
   * SHA-256 of the two files' text, when they were read from files: what the soft-label store's key and a
   * checkpoint's fingerprint cover of the tokenizer.
   */
  readonly digest?: string;
}

/**
 * The `tokenizer.json` a path names: the file itself, or the one in a folder. A Hugging Face export keeps
 * it beside `onnx/model.onnx`, so a folder named `onnx` without one falls back to its parent.
 */
export function findTokenizerFile(path: string): string {
  check(existsSync(path), `tokenizer ${path} does not exist; give a tokenizer.json file or the folder that holds it`, ['tokenizer']);
  if (!statSync(path).isDirectory()) return path;
  const candidates = [join(path, 'tokenizer.json')];
  if (basename(path) === 'onnx') candidates.push(join(dirname(path), 'tokenizer.json'));
  const found = candidates.find((candidate) => existsSync(candidate));
  check(found, `no tokenizer.json in ${path}; give a tokenizer.json file or a Hugging Face model folder that has one`, ['tokenizer']);
  return found;
}

function readJsonObject(path: string, what: string, hash: ReturnType<typeof createHash>): Record<string, unknown> {
  let value: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    hash.update(`${text.length}:${text}`);
    value = JSON.parse(text);
  } catch (error) {
    check(false, `${what} ${path} is not valid JSON (${messageOf(error)}); replace it with the file the model was exported with`, [
      'tokenizer',
    ]);
  }
  check(
    typeof value === 'object' && value !== null && !Array.isArray(value),
    `${what} ${path} is not a JSON object; replace it with the file the model was exported with`,
    ['tokenizer'],
  );
  return value as Record<string, unknown>;
}

/** Reads `tokenizer.json` and the `tokenizer_config.json` beside it (when there is one) from a file or folder. */
export function readTokenizerFiles(path: string): TokenizerFiles {
  const file = findTokenizerFile(path);
  const configFile = join(dirname(file), 'tokenizer_config.json');
  const hash = createHash('sha256');
  return {
    tokenizerJson: readJsonObject(file, 'tokenizer', hash),
    config: existsSync(configFile) ? readJsonObject(configFile, 'tokenizer config', hash) : {},
    source: file,
    digest: hash.digest('hex'),
  };
}

/** Reads a Hugging Face tokenizer from a `tokenizer.json` file or a folder holding one. */
export function loadTokenizer(path: string, options: TextTokenizerOptions = {}): TextTokenizer {
  return new TextTokenizer(readTokenizerFiles(path), options);
}
