import { availableParallelism } from 'node:os';
import { type Dataset, rowSize } from '../dataset.js';
import { check } from '../../errors.js';
import { seededPermutation } from '../../random.js';
import { classLabels, textClasses } from '../text/text-classes.js';
import { type TokenisedFile, tokeniseFile } from '../text/tokenised-file.js';
import { tokenRowsInfo } from '../text/token-rows.js';
import { TextTokenizer } from '../text/tokenizer.js';
import { readTokenizerFiles } from '../text/tokenizer-files.js';
import type { DataSourceEntry, DataSourceOptions, DataSplits } from './source-entry.js';

/** The defaults of the text fields (declared again, for the CLI, in the option schema). */
export const DEFAULT_TEXT_FIELDS = { textField: 'text', labelField: 'label' } as const;

export const textSource: DataSourceEntry = {
  kind: 'text',
  usage: 'text:FILE',
  description:
    'texts and labels, one JSON object a line (.jsonl) or a table with a header row (.csv, .tsv), tokenised by tokenizer ' +
    'into token-id rows; the test split is testData (text:FILE) or a seeded share (testFraction)',
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
    'workers',
  ],
  load: loadText,
};

/**
 * Tokenises the training file (and the test file, when testSource names one) on `workers` threads (default:
 * one per core) and gives the rows the class
 * order: classes, else the sorted labels of both files. The token ids are float32 rows [rows, maxLength] with
 * padding 0; the splits carry vocabSize, which the text models are built for.
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
  const files = readTokenizerFiles(options.tokenizer);
  const tokenizer = new TextTokenizer(files, { maxLength: options.maxLength });
  const maxLength = tokenizer.resolveMaxLength();
  const fields = {
    textField: options.textField ?? DEFAULT_TEXT_FIELDS.textField,
    labelField: options.labelField ?? DEFAULT_TEXT_FIELDS.labelField,
    textPairField: options.textPairField,
  };
  const settings = { tokenizer, files, fields, maxLength, workers: options.workers ?? availableParallelism() };
  const train = await tokeniseFile(file, settings);
  const test = testSource === undefined ? undefined : await tokeniseFile(testSource.slice('text:'.length), settings);
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
  return {
    ...splits,
    ...(order.classes && { classes: order.classes }),
    vocabSize: tokenizer.vocabSize,
    notices: [...(order.notice ? [order.notice] : []), ...emptyNotices([train, ...(test ? [test] : [])])],
  };
}

/**
 * Holds out a seeded `testFraction` of the labelled rows as the test split (a text file's unlabeled rows
 * belong to the transfer set); the other rows stay in their order. Each split's rows go into shared memory
 * of their own, which the run shares as they are.
 */
function splitLabelled(dataset: Dataset, testFraction: number, seed: number): { train: Dataset; test: Dataset } {
  const labelled = Int32Array.from(dataset.y.keys()).filter((row) => dataset.y[row] >= 0);
  const testRows = Math.round(labelled.length * testFraction);
  check(
    testRows >= 1 && testRows < labelled.length,
    `a test fraction of ${testFraction} of the ${labelled.length} labelled rows leaves one split empty; choose another testFraction or give testData`,
    ['testFraction'],
  );
  const order = seededPermutation(labelled.length, seed);
  const isTest = new Uint8Array(dataset.y.length);
  for (let i = 0; i < testRows; i++) isTest[labelled[order[i]]] = 1;
  const pick = (test: boolean): Dataset => {
    const rows = Int32Array.from(dataset.y.keys()).filter((row) => (isTest[row] === 1) === test);
    const size = rowSize(dataset);
    const x = new Float32Array(new SharedArrayBuffer(rows.length * size * Float32Array.BYTES_PER_ELEMENT));
    rows.forEach((row, i) => x.set(dataset.x.subarray(row * size, (row + 1) * size), i * size));
    const y = Int32Array.from(rows, (row) => dataset.y[row]);
    return { x, y, shape: [rows.length, size], numClasses: dataset.numClasses, tokens: dataset.tokens };
  };
  return { train: pick(false), test: pick(true) };
}

/** A notice for each file with empty texts: they are rows like any other, counted so that a wrong field shows. */
function emptyNotices(files: TokenisedFile[]): string[] {
  return files
    .filter(({ emptyTexts }) => emptyTexts > 0)
    .map(({ file, emptyTexts, rows }) => `${file}: ${emptyTexts} of ${rows} texts are empty (kept, as their special tokens alone)`);
}
