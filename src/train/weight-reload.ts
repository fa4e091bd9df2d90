// Loading the shared weights into a replica's variables after every update.
import * as tf from '@tensorflow/tfjs';
import { exchangeLoops } from '../kernels/exchange-loops.js';
import { tensorValues } from '../kernels/wasm-heap.js';
import { stockPackingMoments } from '../kernels/weight-packing.js';

/**
 * The layers whose weights reach only kernels the native set replaces (matMul, conv, gather), never a stock
 * kernel that keeps packed copies of them no matter which set runs (a depthwise conv's).
 */
const NATIVE_WEIGHT_LAYERS = new Set(['Dense', 'Conv1D', 'Conv2D', 'Embedding', 'LSTM', 'GRU', 'SimpleRNN', 'Bidirectional']);

/**
 * Loads flat weights into a model's variables. Writing the new values over the old ones on the wasm heap
 * (one copy per variable, no tensor made) is only right where no kernel keeps a packed copy of the old ones
 * (kernels/weight-packing.ts): on the wasm backend with the native kernels, for a model whose weights only
 * those read, and for variables made since the stock kernels last ran. Otherwise each variable gets a new
 * tensor, which leaves any packed copy behind with the old tensor.
 */
export class WeightReload {
  /** Whether the model's weights reach only the native kernels. */
  private readonly nativeLayers: boolean;
  /** stockPackingMoments() when the variables last got new tensors; undefined before that. */
  private freshAt: number | undefined;
  /** The tensors (by data id) the variables got then: a variable assigned elsewhere since is not written in place. */
  private freshData: object[] = [];

  constructor(
    model: tf.LayersModel,
    private readonly variables: tf.Variable[],
  ) {
    this.nativeLayers = model.layers.every((layer) => layer.weights.length === 0 || NATIVE_WEIGHT_LAYERS.has(layer.getClassName()));
  }

  /** Loads `weights`, the variables' values one after the other, into the variables. */
  load(weights: Float32Array): void {
    const wasm = tf.getBackend() === 'wasm';
    const moments = stockPackingMoments();
    const unchanged = this.variables.every((variable, i) => variable.dataId === this.freshData[i]);
    if (wasm && this.nativeLayers && moments !== undefined && moments === this.freshAt && unchanged) {
      const loops = exchangeLoops();
      let offset = 0;
      for (const variable of this.variables) {
        // A plain copy (no bound) into the variable's values where they lie on the heap; native, since a
        // typed-array copy out of shared memory goes element by element.
        loops.copyBounded(weights.subarray(offset, offset + variable.size), tensorValues(variable), 0, Number.POSITIVE_INFINITY);
        offset += variable.size;
      }
      return;
    }
    // The wasm backend copies a tensor's values into its heap when it is made; other backends may keep the
    // array itself, and the shared weights change at the next step, so they get a copy.
    tf.tidy(() => {
      let offset = 0;
      for (const variable of this.variables) {
        const values = weights.subarray(offset, offset + variable.size);
        variable.assign(tf.tensor(wasm ? values : values.slice(), variable.shape));
        offset += variable.size;
      }
    });
    this.freshAt = moments;
    this.freshData = this.variables.map((variable) => variable.dataId);
  }
}
