import tf from '../tf.cjs';
import { randomUUID } from 'node:crypto';
import { ClassCountMismatch, check, DistillError, messageOf } from '../errors.js';
import type { ModelData } from './model-data.js';

/** What a worker needs to run a GraphModel teacher (tfjs-converter output): the graph and what to read. */
export interface GraphTeacherSpec {
  kind: 'graph';
  /** Unique per run; workers cache the loaded graph under it. */
  id: string;
  topology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weights: SharedArrayBuffer;
  /** The input shape per row (what each batch is reshaped to). */
  inputShape: number[];
  /** The node whose value is the logits: the output, or the input of an output Softmax. */
  outputNode: string;
  numClasses: number;
}

/** A GraphModel teacher opened and checked against the data. */
export interface GraphTeacher {
  spec: GraphTeacherSpec;
  params: number;
  bytes: number;
  notices: string[];
}

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
}

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Loads a graph model from its data (topology, manifest, weights) on the current backend. */
export async function graphModelFromData(
  data: Pick<ModelData, 'topology' | 'weightSpecs' | 'weights'>,
  what: string,
): Promise<tf.GraphModel> {
  try {
    return await tf.loadGraphModel(
      tf.io.fromMemory({ modelTopology: data.topology, weightSpecs: data.weightSpecs, weightData: data.weights }),
    );
  } catch (error) {
    throw new DistillError(`${what} could not be loaded as a graph model: ${messageOf(error)}`, ['teacher']);
  }
}

/**
 * Opens a GraphModel teacher on this thread to check it: one input whose shape fits the rows, and an
 * output with one score per class (probed on one row, since converted graphs rarely record output
 * shapes). An output computed by Softmax is read before the Softmax, so the run gets the logits.
 */
export async function openGraphTeacher(
  data: ModelData,
  file: string,
  options: { featureShape: number[]; numClasses: number; output?: string },
): Promise<GraphTeacher> {
  const model = await graphModelFromData(data, file);
  try {
    check(
      model.inputs.length === 1,
      `the graph model ${file} has ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(', ')}); ` +
        'tfjs-distill feeds one input of rows',
      ['teacher'],
    );
    const declared = model.inputs[0].shape ?? [];
    const rowShape = declared.slice(1);
    const { featureShape, numClasses } = options;
    const fits = (shape: number[]) => shape.length === rowShape.length && shape.every((d, i) => rowShape[i] === -1 || rowShape[i] === d);
    const inputShape = fits(featureShape) ? featureShape : fits([product(featureShape)]) ? [product(featureShape)] : undefined;
    if (!inputShape) {
      const withChannel = featureShape.length === 2 && fits([...featureShape, 1]) ? [...featureShape, 1] : undefined;
      check(
        withChannel !== undefined,
        `the graph model ${file} takes input [${declared}], which does not fit rows of shape [${featureShape}]; ` +
          "give data of the model's input shape",
        ['teacher'],
      );
    }
    const rowInput = inputShape ?? [...featureShape, 1];
    const nodes = ((data.topology as { node?: GraphNode[] }).node ?? []) as GraphNode[];
    const byName = new Map(nodes.map((node) => [node.name, node]));
    const outputs = model.outputNodes;
    const output = options.output ?? outputs[0];
    check(
      byName.has(output.replace(/:\d+$/, '')),
      `the graph model ${file} has no node '${output}'; its outputs are ${outputs.join(', ')} (teacherOutput)`,
      ['teacherOutput'],
    );
    const node = byName.get(output.replace(/:\d+$/, ''))!;
    const notices: string[] = [];
    let outputNode = output;
    if (node.op === 'Softmax' && node.input?.[0]) {
      outputNode = node.input[0];
      notices.push(`the teacher graph's output '${output}' is a Softmax: its input '${outputNode}', the logits, is read instead`);
    } else if (node.op === 'LogSoftmax') {
      notices.push(
        `the teacher graph's output '${output}' holds log-probabilities, which serve as logits (softmax(z / T) ignores a shift of z)`,
      );
    }
    const probe = tf.tidy(() => (model.execute(tf.zeros([1, ...rowInput]), outputNode) as tf.Tensor).shape);
    if (probe.length !== 2 || probe[1] !== numClasses) {
      throw new ClassCountMismatch(
        `the graph model ${file}'s output '${outputNode}' has shape [${probe}] for one row, but the data has ${numClasses} classes; ` +
          `give a teacher whose output is [batch, ${numClasses}] (or pick another output with teacherOutput)`,
        probe[probe.length - 1],
        ['teacherOutput'],
      );
    }
    const weights = new SharedArrayBuffer(data.weights.byteLength);
    new Uint8Array(weights).set(new Uint8Array(data.weights));
    return {
      spec: {
        kind: 'graph',
        id: randomUUID(),
        topology: data.topology,
        weightSpecs: data.weightSpecs,
        weights,
        inputShape: rowInput,
        outputNode,
        numClasses,
      },
      // Integer constants (shapes, indices) are not parameters.
      params: data.weightSpecs.filter((spec) => spec.dtype === 'float32').reduce((sum, spec) => sum + product(spec.shape), 0),
      bytes: Buffer.byteLength(JSON.stringify(data.topology)) + data.weights.byteLength,
      notices,
    };
  } finally {
    model.dispose();
  }
}
