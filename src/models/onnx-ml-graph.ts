/**
 * What tfjs-distill reads from an ONNX-ML graph (scikit-learn, XGBoost or LightGBM models written by skl2onnx or
 * onnxmltools) and the one edit it makes: taking out ZipMap, whose sequence-of-maps output onnxruntime-node
 * cannot return, so that the graph gives the tensor ZipMap would have wrapped. A wire-level walk: every field
 * it does not edit is copied as it is.
 */

import { fields, prefixPacked, text } from './onnx-graph.js';
import { GRAPH, MODEL, NODE, Writer, writeValueInfo } from './onnx-proto.js';

/** The ONNX-ML operator domain. */
export const ONNX_ML_DOMAIN = 'ai.onnx.ml';

const NODE_DOMAIN = 7;
const OPSET = { domain: 1 };
const ATTRIBUTE = { name: 1, s: 4, ints: 8, strings: 9 };
const VALUE_INFO_NAME = 1;

/** One node as far as tfjs-distill reads it: its operator, edges and string/int attributes. */
export interface OnnxMlNode {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** String and string-list attributes (a single string is a list of one). */
  strings: Map<string, string[]>;
  /** Int and int-list attributes. */
  ints: Map<string, number[]>;
}

/** What {@link readOnnxMlGraph} finds. */
export interface OnnxMlGraph {
  nodes: OnnxMlNode[];
  /** The graph's output names, in order. */
  outputs: string[];
  /** Whether the graph uses the ai.onnx.ml domain (an opset import or a node of it). */
  usesOnnxMl: boolean;
}

function readAttribute(bytes: Uint8Array, node: OnnxMlNode): void {
  let name = '';
  const strings: string[] = [];
  const ints: number[] = [];
  for (const field of fields(bytes)) {
    if (field.number === ATTRIBUTE.name) name = text(field.value);
    else if (field.number === ATTRIBUTE.s || field.number === ATTRIBUTE.strings) strings.push(text(field.value));
    else if (field.number === ATTRIBUTE.ints) {
      if (typeof field.value === 'number') ints.push(signed(field.value));
      else for (const packed of fields(prefixPacked(field.value))) ints.push(signed(packed.value as number));
    }
  }
  if (strings.length > 0) node.strings.set(name, strings);
  if (ints.length > 0) node.ints.set(name, ints);
}

/** An int64 read as an unsigned varint, back to its sign (exact for the small values labels hold). */
const signed = (value: number) => (value >= 2 ** 63 ? value - 2 ** 64 : value);

function readNode(bytes: Uint8Array): OnnxMlNode {
  const node: OnnxMlNode = { opType: '', domain: '', inputs: [], outputs: [], strings: new Map(), ints: new Map() };
  for (const field of fields(bytes)) {
    if (field.number === NODE.opType) node.opType = text(field.value);
    else if (field.number === NODE_DOMAIN) node.domain = text(field.value);
    else if (field.number === NODE.input) node.inputs.push(text(field.value));
    else if (field.number === NODE.output) node.outputs.push(text(field.value));
    else if (field.number === NODE.attribute && typeof field.value !== 'number') readAttribute(field.value, node);
  }
  return node;
}

/** The name of a ValueInfoProto. */
function valueName(bytes: Uint8Array): string {
  for (const field of fields(bytes)) if (field.number === VALUE_INFO_NAME) return text(field.value);
  return '';
}

/** Reads the nodes and output names of a model; throws on bytes that are not protobuf. */
export function readOnnxMlGraph(model: Uint8Array): OnnxMlGraph {
  const graph: OnnxMlGraph = { nodes: [], outputs: [], usesOnnxMl: false };
  for (const field of fields(model)) {
    if (typeof field.value === 'number') continue;
    if (field.number === MODEL.opsetImport) {
      for (const part of fields(field.value))
        if (part.number === OPSET.domain && text(part.value) === ONNX_ML_DOMAIN) graph.usesOnnxMl = true;
    } else if (field.number === MODEL.graph) {
      for (const item of fields(field.value)) {
        if (typeof item.value === 'number') continue;
        if (item.number === GRAPH.node) graph.nodes.push(readNode(item.value));
        else if (item.number === GRAPH.output) graph.outputs.push(valueName(item.value));
      }
    }
  }
  graph.usesOnnxMl ||= graph.nodes.some((node) => node.domain === ONNX_ML_DOMAIN);
  return graph;
}

/** A node's class labels (classlabels_strings or classlabels_int64s, as text), or undefined when it has none. */
export function classLabelsOf(node: OnnxMlNode): string[] | undefined {
  return node.strings.get('classlabels_strings') ?? node.ints.get('classlabels_int64s')?.map(String);
}

/** A graph with its ZipMap nodes taken out, and what each ZipMap output became. */
export interface ZipMapFree {
  model: Uint8Array;
  /** ZipMap output -> the probabilities tensor it wrapped, now a graph output. */
  unzipped: Map<string, string>;
}

/**
 * Takes the ZipMap nodes out of a model whose graph outputs their results: each such output is replaced by
 * ZipMap's input, a float [batch, classes] tensor. A graph without ZipMap comes back as it is.
 */
export function withoutZipMap(model: Uint8Array, graph: OnnxMlGraph): ZipMapFree {
  const zipMaps = graph.nodes.filter((node) => node.opType === 'ZipMap' && node.domain === ONNX_ML_DOMAIN);
  const unzipped = new Map(zipMaps.map((node) => [node.outputs[0], node.inputs[0]]));
  if (unzipped.size === 0) return { model, unzipped };
  const consumed = graph.nodes.some((node) => node.inputs.some((input) => unzipped.has(input)));
  if (consumed) throw new Error('a ZipMap output feeds another node');
  const columns = new Map(zipMaps.map((node) => [node.inputs[0], classLabelsOf(node)?.length ?? 0]));
  if ([...columns.values()].includes(0)) throw new Error('a ZipMap has no class labels');
  const kept = new Set(graph.outputs.filter((name) => !unzipped.has(name)));
  const writer = new Writer();
  for (const field of fields(model)) {
    if (field.number !== MODEL.graph || typeof field.value === 'number') {
      writer.raw(model.subarray(field.start, field.end));
      continue;
    }
    const graphBytes = field.value;
    writer.message(MODEL.graph, (g) => {
      for (const item of fields(graphBytes)) {
        const bytes = graphBytes.subarray(item.start, item.end);
        if (typeof item.value === 'number') g.raw(bytes);
        else if (item.number === GRAPH.node && readNode(item.value).opType === 'ZipMap') continue;
        else if (item.number === GRAPH.output && unzipped.has(valueName(item.value))) {
          const input = unzipped.get(valueName(item.value))!;
          if (kept.has(input)) continue;
          kept.add(input);
          g.message(GRAPH.output, (v) => writeValueInfo(v, { name: input, shape: [null, columns.get(input)!] }));
        } else g.raw(bytes);
      }
    });
  }
  return { model: writer.finish(), unzipped };
}
