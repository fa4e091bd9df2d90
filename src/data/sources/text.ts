import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { type Dataset, heldOutTestRows, rowSize } from '../dataset.js';
import { check } from '../../errors.js';
import { type AugmentIds, type TextAugment, augmentIds, textAugmentProblem, withAugmentedCopies } from '../text/augment-tokens.js';
import { classLabels, textClasses } from '../text/text-classes.js';
import { type TokenisedFile, idTypeOf, newIds, tokeniseFiles } from '../text/tokenised-file.js';
import type { TokenIdArray } from '../text/token-table.js';
import { tokenRowsInfo } from '../text/token-rows.js';
import { TextTokenizer } from '../text/tokenizer.js';
import { type TokenizerFiles, readTokenizerFiles } from '../text/tokenizer-files.js';
import { textContract } from '../source-contracts.js';
import type { ContractFile, DataSourceEntry, DataSourceOptions, DataSplits } from './source-entry.js';

/** The defaults of the text fields (declared again, for the CLI, in the option schema). */
export const DEFAULT_TEXT_FIELDS = { textField: 'text', labelField: 'label' } as const;

export const textSource: DataSourceEntry = {
  kind: 'text',
  usage: 'text:FILE',
  description:
    'texts and labels, one JSON object a line (.jsonl) or a table with a header row (.csv, .tsv), tokenised by tokenizer ' +
    'into token-id rows; the test split is testData (text:FILE) or a seeded share (testFraction); augment adds masked and ' +
    'n-gram copies of the training rows to the transfer set',
  argument: 'path',
  settings: [
    'testSource',
    'testFraction',
    'seed',
    'tokenizer',
    'maxLength',
    'textField',
    'labelField',
    'textPairField',
    'classes',
    'augment',
    'workers',
  ],
  load: loadText,
};

/**
 * Tokenises the training file (and the test file, when testSource names one) on `workers` threads (default:
 * one per core) and gives the rows the class
 * order: classes, else the sorted labels of both files. The token ids are rows [rows, maxLength] in the
 * narrowest integer type of the vocabulary, with padding 0; the splits carry vocabSize, which the text
 * models are built for.
 */
async function loadText(file: string, options: DataSourceOptions): Promise<DataSplits> {
  const { testSource, testFraction, seed, classes: given } = options;
  check(options.tokenizer, `data text:${file} needs tokenizer: a tokenizer.json file or the folder that holds it`, ['tokenizer', 'data']);
  check(testSource === undefined || testSource.startsWith('text:'), `testData ${testSource}: give text:FILE`, ['testData']);
  check(
    options.workers === undefined || (Number.isInteger(options.workers) && options.workers >= 1),
    `workers must be a positive integer, got ${options.workers}`,
    ['workers'],
  );
  const augmentProblem = options.augment && textAugmentProblem(options.augment);
  check(!augmentProblem, () => augmentProblem!, ['augment']);
  const files = readTokenizerFiles(options.tokenizer);
  const tokenizer = new TextTokenizer(files, { maxLength: options.maxLength });
  const maxLength = tokenizer.resolveMaxLength();
  const fields = {
    textField: options.textField ?? DEFAULT_TEXT_FIELDS.textField,
    labelField: options.labelField ?? DEFAULT_TEXT_FIELDS.labelField,
    textPairField: options.textPairField,
  };
  const settings = { tokenizer, files, fields, maxLength, workers: options.workers ?? availableParallelism() };
  const [train, test] = await tokeniseFiles(testSource === undefined ? [file] : [file, testSource.slice('text:'.length)], settings);
  check(
    test?.firstUnlabeledLine === undefined,
    () => `${test!.file} line ${test!.firstUnlabeledLine} has no label, but every test row needs one; label it or leave it out`,
    ['testData'],
  );
  const order = textClasses(test ? [train, test] : [train], given, fields.labelField);
  const tokens = tokenRowsInfo(tokenizer, maxLength, fields.textPairField !== undefined);
  const dataset = (rows: TokenisedFile): Dataset => ({
    x: rows.ids,
    y: classLabels(rows, order),
    shape: [rows.rows, maxLength],
    numClasses: order.numClasses,
    tokens,
  });
  const splits = test ? { train: dataset(train), test: dataset(test) } : splitLabelled(dataset(train), testFraction, seed);
  const made = { tokenizer: files.digest, maxLength, fields };
  splits.test.preprocessingKey = JSON.stringify(made);
  splits.train.preprocessingKey = JSON.stringify({ ...made, augment: options.augment ?? null });
  const { augment } = options;
  return {
    ...splits,
    ...(augment && { augmentTrain: augmenter(augment, augmentIds(tokenizer, files.tokenizerJson.added_tokens, augment), seed) }),
    ...(order.classes && { classes: order.classes }),
    vocabSize: tokenizer.vocabSize,
    ...textInput(files, { maxLength, tokenizerPadId: tokenizer.padId, ...fields }),
    notices: [...(order.notice ? [order.notice] : []), ...emptyNotices([train, ...(test ? [test] : [])])],
  };
}

/**
 * Holds out a seeded `testFraction` of the labelled rows as the test split (a text file's unlabeled rows
 * belong to the transfer set); the other rows stay in their order. Each split's rows go into shared memory
 * of their own, which the run shares as they are.
 */
function splitLabelled(dataset: Dataset, testFraction: number, seed: number): { train: Dataset; test: Dataset } {
  const isTest = heldOutTestRows(dataset.y, testFraction, seed);
  const pick = (test: boolean): Dataset => {
    const rows = Int32Array.from(dataset.y.keys()).filter((row) => (isTest[row] === 1) === test);
    const size = rowSize(dataset);
    const x = newIds(idTypeOf(dataset.x as TokenIdArray), rows.length * size, true);
    rows.forEach((row, i) => x.set(dataset.x.subarray(row * size, (row + 1) * size), i * size));
    const y = Int32Array.from(rows, (row) => dataset.y[row]);
    return { x, y, shape: [rows.length, size], numClasses: dataset.numClasses, tokens: dataset.tokens };
  };
  return { train: pick(false), test: pick(true) };
}

/** Appends `augment.copies` augmented copies of each training row given, unlabeled, to the rows. */
function augmenter(augment: TextAugment, ids: AugmentIds, seed: number) {
  return (train: Dataset) => {
    const rows = train.shape[0];
    const width = train.shape[1];
    const { x, y } = withAugmentedCopies(train.x as TokenIdArray, train.y, width, ids, augment, seed);
    const parts = [augment.mask ? `mask ${augment.mask}` : '', augment.ngram ? `n-grams ${augment.ngram}` : ''].filter(Boolean);
    const notice =
      `augment: ${augment.copies} cop${augment.copies === 1 ? 'y' : 'ies'} of each of the ${rows} training rows ` +
      `(${parts.join(', ')}) joined the transfer set unlabeled: ${y.length} training rows in all`;
    return { train: { ...train, x, y, shape: [y.length, width] }, notice };
  };
}

/** The text rows' contract, and the tokenizer files it names: tokenizer.json, and tokenizer_config.json when there is one. */
function textInput(
  files: TokenizerFiles,
  settings: { maxLength: number; tokenizerPadId: number; textField: string; textPairField?: string },
): Pick<DataSplits, 'contract' | 'contractFiles'> {
  const config = join(dirname(files.source), 'tokenizer_config.json');
  const contractFiles: ContractFile[] = [
    { name: 'tokenizer.json', path: files.source },
    ...(existsSync(config) ? [{ name: 'tokenizer_config.json', path: config }] : []),
  ];
  const { maxLength, tokenizerPadId, textField, textPairField } = settings;
  const tokenizerFiles = contractFiles.map((file) => file.name);
  return { contract: textContract({ tokenizerFiles, maxLength, tokenizerPadId, textField, textPairField }), contractFiles };
}

/** A notice for each file with empty texts: they are rows like any other, counted so that a wrong field shows. */
function emptyNotices(files: TokenisedFile[]): string[] {
  return files
    .filter(({ emptyTexts }) => emptyTexts > 0)
    .map(({ file, emptyTexts, rows }) => `${file}: ${emptyTexts} of ${rows} texts are empty (kept, as their special tokens alone)`);
}
