/**
 * Texts to token-id rows, as training made them: the tokenizer files of the folder, the same truncation
 * and special-token template (TextTokenizer.encodeInto) and the same pad swap (toModelIds).
 */
import type { TextContract } from '../data/input-contract.js';
import { toModelIds } from '../data/text/model-ids.js';
import { TextTokenizer } from '../data/text/tokenizer.js';
import { check } from '../errors.js';
import { type FolderFiles, readJson } from './folder-files.js';
import type { TextInput } from './input-rows.js';

/** Encodes texts into model rows of a text contract. */
export class TextRows {
  private readonly ids: Int32Array;

  private constructor(
    private readonly contract: TextContract,
    private readonly tokenizer: TextTokenizer,
  ) {
    this.ids = new Int32Array(contract.maxLength);
  }

  /** Reads the folder's tokenizer files (`tokenizerFiles` of the contract) and checks they match the contract. */
  static async open(contract: TextContract, files: FolderFiles): Promise<TextRows> {
    const [tokenizerFile, configFile] = contract.tokenizerFiles;
    check(tokenizerFile, `${files.location}preprocessing.json names no tokenizer files; copy the one the run wrote`);
    const tokenizerJson = (await readJson(files, tokenizerFile)) as Record<string, unknown>;
    const config = configFile === undefined ? {} : ((await readJson(files, configFile)) as Record<string, unknown>);
    const tokenizer = new TextTokenizer(
      { tokenizerJson, config, source: files.location + tokenizerFile },
      { maxLength: contract.maxLength },
    );
    check(
      tokenizer.padId === contract.tokenizerPadId,
      `${files.location}${tokenizerFile} pads with id ${tokenizer.padId}, but the student was trained with ${contract.tokenizerPadId}; copy the tokenizer files the run wrote`,
    );
    return new TextRows(contract, tokenizer);
  }

  /** One text (or pair) into `row`: truncated on the right to maxLength with its special tokens, padded with 0. */
  encode(input: TextInput, row: Float32Array, where: string): void {
    const { maxLength, tokenizerPadId, textPairField } = this.contract;
    const text = typeof input === 'string' ? input : input?.text;
    check(typeof text === 'string', `${where} has no text; give a string or { text${textPairField ? ', pair' : ''} }`, ['inputs']);
    // Training read a missing second text of a pair as empty, and a pair-less student never saw one.
    const pair = textPairField === undefined ? undefined : ((typeof input === 'string' ? undefined : input.pair) ?? '');
    check(
      textPairField !== undefined || typeof input === 'string' || input.pair === undefined,
      `${where} has a second text, but the student takes single texts; give the text alone`,
      ['inputs'],
    );
    this.tokenizer.encodeInto(text, pair, this.ids, undefined, 0, maxLength);
    toModelIds(this.ids, tokenizerPadId, row);
  }
}
