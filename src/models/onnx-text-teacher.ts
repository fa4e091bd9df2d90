import { tokenizerId, type TokenRowsInfo } from '../data/text/token-rows.js';
import { DistillError, check } from '../errors.js';
import type { OnnxGraphFacts } from './onnx-graph.js';

/** The integer types a text model's inputs may declare. */
export type TokenInputType = 'int64' | 'int32';

/** One input a text teacher is fed: its name and declared integer type. */
export interface TokenInput {
  name: string;
  type: TokenInputType;
}

/**
 * How a worker feeds an ONNX text classifier from token-id rows: which inputs the graph has (by Hugging
 * Face's names), how the rows map back to the tokenizer's ids, and how rows are grouped by length.
 */
export interface OnnxTextFeed {
  ids: TokenInput;
  mask?: TokenInput;
  segments?: TokenInput;
  rows: TokenRowsInfo;
  /**
   * Rows per run of the model: a batch's rows are sorted by length and run this many at a time, each group
   * padded to its longest row. null: the whole batch at once, padded to the row width.
   */
  bucketRows: number | null;
}

/** Rows per length bucket: enough to keep the model's matrix products efficient, few enough that lengths in a bucket stay close. */
export const TEXT_BUCKET_ROWS = 32;

/** The input names a text run fills, by role. */
const TEXT_INPUTS = { input_ids: 'ids', attention_mask: 'mask', token_type_ids: 'segments' } as const;

/** A graph input as onnxruntime-node describes it. */
interface InputMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
}

/**
 * The inputs of an ONNX text classifier, checked: input_ids (required), attention_mask and token_type_ids
 * (when the graph has them), each int64 or int32. Any other input is an error naming it, since token rows
 * cannot fill it.
 */
export function textInputs(
  file: string,
  inputNames: readonly string[],
  metadata: readonly InputMetadata[] | undefined,
): Pick<OnnxTextFeed, 'ids' | 'mask' | 'segments'> {
  const inputs: Partial<Record<'ids' | 'mask' | 'segments', TokenInput>> = {};
  for (const name of inputNames) {
    const role = TEXT_INPUTS[name as keyof typeof TEXT_INPUTS];
    check(
      role !== undefined,
      `the ONNX teacher ${file} has an input '${name}' that text rows cannot fill (tfjs-distill fills input_ids, attention_mask ` +
        `and token_type_ids); give a text classifier with those inputs, or data of the kind '${name}' takes`,
      ['teacher'],
    );
    const type = metadata?.find((entry) => entry.name === name)?.type ?? 'int64';
    check(
      type === 'int64' || type === 'int32',
      `the ONNX teacher ${file}'s input '${name}' is ${type}, but token ids are fed as int64 or int32; export it with integer inputs`,
      ['teacher'],
    );
    inputs[role] = { name, type };
  }
  check(
    inputs.ids,
    `the ONNX teacher ${file} has no input_ids input (its inputs are ${inputNames.join(', ')}); ` +
      'text rows feed a classifier with Hugging Face input names: input_ids, attention_mask, token_type_ids',
    ['teacher'],
  );
  return inputs as Pick<OnnxTextFeed, 'ids' | 'mask' | 'segments'>;
}

/** The values computed from `name` by ops that only change its type or shape. */
function derivedFrom(graph: OnnxGraphFacts, name: string): Set<string> {
  const values = new Set([name]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const node of graph.nodes) {
      if (!['Cast', 'Identity', 'Unsqueeze', 'Reshape', 'Flatten', 'Squeeze'].includes(node.opType)) continue;
      if (!values.has(node.inputs[0])) continue;
      for (const output of node.outputs) if (!values.has(output)) grew = values.add(output) !== undefined;
    }
  }
  return values;
}

/** The rows of the embedding table that a Gather on `input` reads: the vocabulary size; undefined when the graph does not show one. */
export function embeddingRows(graph: OnnxGraphFacts, input: string): number | undefined {
  const ids = derivedFrom(graph, input);
  for (const node of graph.nodes) {
    if (node.opType !== 'Gather' || !ids.has(node.inputs[1])) continue;
    const dims = graph.initializers.get(node.inputs[0]);
    if (dims?.length === 2) return dims[0];
  }
  return undefined;
}

/** The positions of a position-embedding table a Gather reads (an initializer named for positions); undefined when there is none. */
export function positionRows(graph: OnnxGraphFacts): number | undefined {
  for (const node of graph.nodes) {
    if (node.opType !== 'Gather') continue;
    const dims = graph.initializers.get(node.inputs[0]);
    if (dims?.length === 2 && /position/i.test(node.inputs[0])) return dims[0];
  }
  return undefined;
}

/** Checks that the rows fit the teacher's position embeddings: `positions` tokens at most. */
export function checkPositions(file: string, rows: TokenRowsInfo, positions: number | undefined, where: string): void {
  check(
    positions === undefined || rows.maxLength <= positions,
    `maxLength ${rows.maxLength} is beyond the ${positions} positions of the ONNX teacher ${file} (${where}); give maxLength ${positions} or less`,
    ['maxLength'],
  );
}

/**
 * Checks every token id of the rows against the teacher's embedding of `vocab` ids: a larger one means
 * the rows were tokenised with another tokenizer than the teacher's.
 */
export function checkTokenIds(file: string, features: ArrayLike<number>, rows: TokenRowsInfo, vocab: number | undefined): void {
  if (vocab === undefined) return;
  for (let cell = 0; cell < features.length; cell++) {
    const id = tokenizerId(features[cell], rows.padId);
    if (id < vocab) continue;
    throw new DistillError(
      `row ${Math.floor(cell / rows.maxLength)} holds token id ${id}, beyond the ${vocab} ids of the ONNX teacher ${file}'s embedding ` +
        `(${rows.tokenizer} has ${rows.vocabSize}); give tokenizer the teacher's own tokenizer.json`,
      ['tokenizer'],
    );
  }
}
