import tf from '../tf.cjs';

/** Layers whose weight matrices are applied once per timestep of their input, whatever they output. */
const RECURRENT = new Set(['LSTM', 'GRU', 'SimpleRNN', 'RNN', 'Bidirectional', 'ConvLSTM2D']);

/** A layer's call as tfjs records it: the shapes that went in and came out. */
interface LayerCall {
  inputShapes: tf.Shape | tf.Shape[];
  outputShapes: tf.Shape | tf.Shape[];
}

/**
 * The multiply-adds of one row's forward pass through `model`'s layers: each weight matrix (or kernel)
 * times the positions it is applied at (a dense layer's at every position but the last axis, a
 * convolution's at every output position, a recurrent layer's at every timestep, a convolutional LSTM's at
 * every position of every timestep), and an embedding's lookups (one per value it outputs, which its
 * gradient adds back). A nested model counts once per call of it. Biases and elementwise layers are left
 * out: what it measures is how much a training step computes, to weigh against what it costs to share a
 * step among threads, which does not grow with it.
 */
export function forwardMultiplyAdds(model: tf.LayersModel): number {
  // A Sequential lists its calls once built, as its first fit or predict would build it.
  if (model instanceof tf.Sequential && !model.built && model.inputs.length > 0) model.build();
  let total = 0;
  // The model's own calls: a layer shared with another model has calls of that model's too (in its
  // inboundNodes), and a nested model called twice here is two calls of it.
  for (const nodes of Object.values(model.nodesByDepth)) {
    for (const node of nodes) {
      const layer = node.outboundLayer;
      total += layer instanceof tf.LayersModel ? forwardMultiplyAdds(layer) : callMultiplyAdds(layer, node);
    }
  }
  return total;
}

function callMultiplyAdds(layer: tf.layers.Layer, call: LayerCall): number {
  const output = firstShape(call.outputShapes);
  const outputValues = valuesPerRow(output);
  if (layer.getClassName() === 'Embedding') return outputValues;
  const matrixValues = layer.weights
    .filter((w) => w.shape.length >= 2)
    .reduce((sum, w) => sum + tf.util.sizeFromShape(w.shape as number[]), 0);
  if (matrixValues === 0) return 0;
  if (RECURRENT.has(layer.getClassName())) {
    const steps = firstShape(call.inputShapes)[1] ?? 1;
    // A convolutional LSTM applies its kernels at every position of its output's rows x columns.
    const positions = layer.getClassName() === 'ConvLSTM2D' ? (output[output.length - 3] ?? 1) * (output[output.length - 2] ?? 1) : 1;
    return matrixValues * steps * positions;
  }
  const channels = output[output.length - 1] ?? 1;
  return matrixValues * (outputValues / channels);
}

function firstShape(shapes: tf.Shape | tf.Shape[]): tf.Shape {
  return Array.isArray(shapes[0]) ? (shapes as tf.Shape[])[0] : (shapes as tf.Shape);
}

/** Values per row of a shape whose first axis is the batch (an unknown axis counts as 1). */
function valuesPerRow(shape: tf.Shape): number {
  return shape.slice(1).reduce<number>((product, size) => product * (size ?? 1), 1);
}
