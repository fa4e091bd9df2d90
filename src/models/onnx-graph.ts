/**
 * The few facts tfjs-distill needs from an ONNX file that onnxruntime does not expose: which operator
 * produces each graph output (a Softmax there means probabilities, not logits), how many values the
 * initializers (the weights) hold, and which node reads which initializer (a text model's embedding sizes). A minimal protobuf walk over ModelProto, reading only those fields.
 */

import { GRAPH, MODEL, NODE, TENSOR } from './onnx-proto.js';

/** What {@link readOnnxGraph} finds. */
export interface OnnxGraphFacts {
  /** The operator type that produces each graph output, by output name. */
  producers: Map<string, string>;
  /** Values held by the initializers: the model's parameter count. */
  params: number;
  /** Each initializer's dims, by name. */
  initializers: Map<string, number[]>;
  /** The nodes: operator type, input and output names. */
  nodes: { opType: string; inputs: string[]; outputs: string[] }[];
}

/**
 * One protobuf field: its number, its value as a number (varint, fixed32 as float, fixed64 as double) or bytes
 * (length-delimited), and where it lies in the message, key included (so an editor can copy it as it is).
 */
export type ProtoField = { number: number; value: number | Uint8Array; start: number; end: number };

/** The fields of one protobuf message, in order. */
export function* fields(bytes: Uint8Array): Generator<ProtoField> {
  let at = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new Error('truncated varint');
      const byte = bytes[at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  };
  const fixed = (size: number): number => {
    if (at + size > bytes.length) throw new Error('truncated field');
    at += size;
    return size === 4 ? view.getFloat32(at - 4, true) : view.getFloat64(at - 8, true);
  };
  while (at < bytes.length) {
    const start = at;
    const key = varint();
    const number = Math.floor(key / 8);
    switch (key & 7) {
      case 0: {
        const value = varint();
        yield { number, value, start, end: at };
        break;
      }
      case 1: {
        const value = fixed(8);
        yield { number, value, start, end: at };
        break;
      }
      case 2: {
        const length = varint();
        if (at + length > bytes.length) throw new Error('truncated field');
        at += length;
        yield { number, value: bytes.subarray(at - length, at), start, end: at };
        break;
      }
      case 5: {
        const value = fixed(4);
        yield { number, value, start, end: at };
        break;
      }
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
}

/** A length-delimited field as UTF-8 text ('' for a number). */
export const text = (value: number | Uint8Array) => (typeof value === 'number' ? '' : Buffer.from(value).toString('utf8'));

/** Reads the producers of the graph's values and the parameter count; throws on bytes that are not protobuf. */
export function readOnnxGraph(model: Uint8Array): OnnxGraphFacts {
  const producers = new Map<string, string>();
  const initializers = new Map<string, number[]>();
  const nodes: OnnxGraphFacts['nodes'] = [];
  let params = 0;
  for (const field of fields(model)) {
    if (field.number !== MODEL.graph || typeof field.value === 'number') continue;
    for (const item of fields(field.value)) {
      if (typeof item.value === 'number') continue;
      if (item.number === GRAPH.node) {
        let opType = '';
        const inputs: string[] = [];
        const outputs: string[] = [];
        for (const part of fields(item.value)) {
          if (part.number === NODE.opType) opType = text(part.value);
          else if (part.number === NODE.input) inputs.push(text(part.value));
          else if (part.number === NODE.output) outputs.push(text(part.value));
        }
        for (const output of outputs) producers.set(output, opType);
        nodes.push({ opType, inputs, outputs });
      } else if (item.number === GRAPH.initializer) {
        const dims = initializerDims(item.value);
        initializers.set(initializerName(item.value), dims);
        params += dims.reduce((a, b) => a * b, 1);
      }
    }
  }
  return { producers, params, initializers, nodes };
}

function initializerName(tensor: Uint8Array): string {
  for (const field of fields(tensor)) if (field.number === TENSOR.name) return text(field.value);
  return '';
}

/** A TensorProto's dims (packed or not). */
function initializerDims(tensor: Uint8Array): number[] {
  const dims: number[] = [];
  for (const field of fields(tensor)) {
    if (field.number !== TENSOR.dims) continue;
    if (typeof field.value === 'number') dims.push(field.value);
    else for (const packed of fields(prefixPacked(field.value))) dims.push(packed.value as number);
  }
  return dims;
}

/** Packed varints as a run of field-1 varints, so the same reader walks them. */
export function prefixPacked(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] < 0x80) {
      out.push(0x08, ...bytes.subarray(start, i + 1));
      start = i + 1;
    }
  }
  return Uint8Array.from(out);
}
