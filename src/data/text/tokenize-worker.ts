/**
 * The tokenising thread of the text data source: Piscina calls the default export with a batch of texts
 * and a token table in shared memory, which it fills with encodeRowsInto; nothing bulky crosses back. The
 * tokenizer files come once per thread, in workerData.
 */
import { workerData } from 'node:worker_threads';
import { encodeRowsInto } from './token-batch.js';
import type { TokenTable } from './token-table.js';
import { TextTokenizer } from './tokenizer.js';
import type { TokenizerFiles } from './tokenizer-files.js';

/** What each tokenising thread starts with. */
export interface TokenizeWorkerData {
  files: TokenizerFiles;
  maxLength: number;
}

/** One batch: its texts (and pairs), encoded into rows 0.. of `table`. */
export interface TokenizeTask {
  texts: string[];
  pairs?: string[];
  table: TokenTable;
}

let tokenizer: TextTokenizer | undefined;

export default function tokenizeBatch(task: TokenizeTask): void {
  const { files, maxLength } = workerData as TokenizeWorkerData;
  tokenizer ??= new TextTokenizer(files, { maxLength });
  encodeRowsInto(tokenizer, { texts: task.texts, pairs: task.pairs }, task.table);
}
