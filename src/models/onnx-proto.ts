/**
 * A minimal protobuf writer for the parts of onnx.proto3 that an exported model needs: a model with one
 * opset, a graph of nodes with int/float/string attributes and lists of them, float32 and int64 initializers, and one input and
 * output with a symbolic batch dimension. Only what {@link encodeModel} writes is supported.
 */

/** A tensor initializer: float32 weights, uint8 quantised weights, or int64 values (shapes for Reshape). */
export interface OnnxTensor {
  name: string;
  dims: number[];
  values: Float32Array | Uint8Array | number[];
  type: 'float32' | 'int64' | 'uint8';
}

/** A node attribute value: an int, a float, a string, or a list of ints, floats or strings. */
export type OnnxAttribute =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: number[] }
  | { floats: number[] }
  | { strings: string[] };

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, OnnxAttribute>;
}

/** A graph input or output: float32, with `null` for the batch dimension. */
export interface OnnxValueInfo {
  name: string;
  shape: (number | null)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  input: OnnxValueInfo;
  output: OnnxValueInfo;
}

// Field numbers and enum values of onnx.proto3 (the first four also serve the reader, onnx-graph.ts).
export const MODEL = { irVersion: 1, producerName: 2, graph: 7, opsetImport: 8 };
export const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 };
export const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 };
export const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 };
const OPSET = { domain: 1, version: 2 };
const ATTRIBUTE = { name: 1, f: 2, i: 3, s: 4, floats: 7, ints: 8, strings: 9, type: 20 };
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7, strings: 8 };
const DATA_TYPE = { float32: 1, uint8: 2, int64: 7 };
const VALUE_INFO = { name: 1, type: 2 };
const TYPE_TENSOR = 1;
const TENSOR_TYPE = { elemType: 1, shape: 2 };
const SHAPE_DIM = 1;
const DIM = { value: 1, param: 2 };

/** The opset the exporter writes (Softmax over one axis, Clip with min/max inputs). */
export const OPSET_VERSION = 13;
/** The IR version that goes with opset 13. */
const IR_VERSION = 7;

/** Appends protobuf fields to a growing byte list. */
export class Writer {
  private readonly parts: Uint8Array[] = [];
  private readonly scratch: number[] = [];

  private flushScratch(): void {
    if (this.scratch.length > 0) {
      this.parts.push(Uint8Array.from(this.scratch));
      this.scratch.length = 0;
    }
  }

  /** A varint; negative int64 values take their 10-byte two's complement form. */
  private varint(value: number): void {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  int(field: number, value: number): this {
    this.varint(field * 8);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.varint(field * 8 + 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.scratch.push(...bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.varint(field * 8 + 2);
    this.varint(value.length);
    this.flushScratch();
    this.parts.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** Bytes that are already encoded fields (copied from another message as they are). */
  raw(encoded: Uint8Array): this {
    this.flushScratch();
    this.parts.push(encoded);
    return this;
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.parts.reduce((sum, p) => sum + p.length, 0));
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

/** Little-endian bytes of a tensor's values, as raw_data holds them. */
function rawData(tensor: OnnxTensor): Uint8Array {
  if (tensor.type === 'uint8') return Uint8Array.from(tensor.values);
  const view = new DataView(new ArrayBuffer(tensor.values.length * (tensor.type === 'int64' ? 8 : 4)));
  tensor.values.forEach((v: number, i: number) => {
    if (tensor.type === 'int64') view.setBigInt64(i * 8, BigInt(v), true);
    else view.setFloat32(i * 4, v, true);
  });
  return new Uint8Array(view.buffer);
}

/** A float32 ValueInfoProto's fields. */
export function writeValueInfo(w: Writer, info: OnnxValueInfo): void {
  w.string(VALUE_INFO.name, info.name);
  w.message(VALUE_INFO.type, (type) =>
    type.message(TYPE_TENSOR, (tensor) => {
      tensor.int(TENSOR_TYPE.elemType, DATA_TYPE.float32);
      tensor.message(TENSOR_TYPE.shape, (shape) => {
        for (const dim of info.shape) {
          shape.message(SHAPE_DIM, (d) => (dim === null ? d.string(DIM.param, 'batch') : d.int(DIM.value, dim)));
        }
      });
    }),
  );
}

function writeNode(w: Writer, node: OnnxNode, index: number): void {
  for (const input of node.inputs) w.string(NODE.input, input);
  for (const output of node.outputs) w.string(NODE.output, output);
  w.string(NODE.name, `${node.opType}_${index}`);
  w.string(NODE.opType, node.opType);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    w.message(NODE.attribute, (a) => {
      a.string(ATTRIBUTE.name, name);
      if ('int' in value) a.int(ATTRIBUTE.i, value.int).int(ATTRIBUTE.type, ATTRIBUTE_TYPE.int);
      else if ('float' in value) a.float(ATTRIBUTE.f, value.float).int(ATTRIBUTE.type, ATTRIBUTE_TYPE.float);
      else if ('string' in value) a.string(ATTRIBUTE.s, value.string).int(ATTRIBUTE.type, ATTRIBUTE_TYPE.string);
      else if ('ints' in value) {
        for (const v of value.ints) a.int(ATTRIBUTE.ints, v);
        a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.ints);
      } else if ('floats' in value) {
        for (const v of value.floats) a.float(ATTRIBUTE.floats, v);
        a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.floats);
      } else {
        for (const v of value.strings) a.string(ATTRIBUTE.strings, v);
        a.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.strings);
      }
    });
  }
}

/** A serialized ModelProto (opset 13) holding `graph`. */
export function encodeModel(graph: OnnxGraph, producer: string): Uint8Array {
  const w = new Writer();
  w.int(MODEL.irVersion, IR_VERSION);
  w.string(MODEL.producerName, producer);
  w.message(MODEL.graph, (g) => {
    graph.nodes.forEach((node, i) => g.message(GRAPH.node, (n) => writeNode(n, node, i)));
    g.string(GRAPH.name, graph.name);
    for (const tensor of graph.initializers) {
      g.message(GRAPH.initializer, (t) => {
        for (const dim of tensor.dims) t.int(TENSOR.dims, dim);
        t.int(TENSOR.dataType, DATA_TYPE[tensor.type]);
        t.string(TENSOR.name, tensor.name);
        t.bytes(TENSOR.rawData, rawData(tensor));
      });
    }
    g.message(GRAPH.input, (v) => writeValueInfo(v, graph.input));
    g.message(GRAPH.output, (v) => writeValueInfo(v, graph.output));
  });
  w.message(MODEL.opsetImport, (o) => o.string(OPSET.domain, '').int(OPSET.version, OPSET_VERSION));
  return w.finish();
}
