// Loading the shared weights into a replica's variables after every update.
import tf from '../tf.cjs';
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
  /** Per variable: stockPackingMoments() when it last got a new tensor here (undefined before that). */
  private readonly freshAt: (number | undefined)[];
  /** Per variable: the tensor (by data id) it got then; a variable assigned elsewhere since is not written in place. */
  private readonly freshData: (object | undefined)[];

  constructor(
    model: tf.LayersModel,
    private readonly variables: tf.Variable[],
  ) {
    this.nativeLayers = model.layers.every((layer) => layer.weights.length === 0 || NATIVE_WEIGHT_LAYERS.has(layer.getClassName()));
    this.freshAt = variables.map(() => undefined);
    this.freshData = variables.map(() => undefined);
  }

  /** Loads `weights`, the variables' values one after the other, into the variables `which` picks (all by default). */
  load(weights: Float32Array, which: (variable: tf.Variable) => boolean = () => true): void {
    const wasm = tf.getBackend() === 'wasm';
    const moments = stockPackingMoments();
    const inPlace = wasm && this.nativeLayers && moments !== undefined;
    const loops = exchangeLoops();
    tf.tidy(() => {
      let offset = 0;
      this.variables.forEach((variable, i) => {
        const values = weights.subarray(offset, offset + variable.size);
        offset += variable.size;
        if (!which(variable)) return;
        if (inPlace && this.freshAt[i] === moments && this.freshData[i] === variable.dataId) {
          // A plain copy (no bound) into the variable's values where they lie on the heap; native, since a
          // typed-array copy out of shared memory goes element by element.
          loops.copyBounded(values, tensorValues(variable), 0, Number.POSITIVE_INFINITY);
          return;
        }
        // The wasm backend copies a tensor's values into its heap when it is made; other backends may keep
        // the array itself, and the shared weights change at the next step, so they get a copy.
        variable.assign(tf.tensor(wasm ? values : values.slice(), variable.shape));
        this.freshAt[i] = moments;
        this.freshData[i] = variable.dataId;
      });
    });
  }
}
