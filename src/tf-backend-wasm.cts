// The wasm backend through require, for the reason src/tf.cts gives.
import wasm = require('@tensorflow/tfjs-backend-wasm');
export = wasm;
