// Reading a computed tensor's values. A tidy() that returns the typed array of dataSync() makes tfjs walk
// that array element by element, through a Set, looking for tensors in it: for a batch of logits the walk
// costs many times the prediction itself, and on a timed prediction it is most of what a latency measures.
// Returning the tensor from the tidy() and reading it here skips the walk.
import type { Tensor, TypedArray } from '@tensorflow/tfjs';

/** The values of `tensor`, as dataSync() gives them (the caller's to keep), and the tensor disposed. */
export function readAndDispose<T extends TypedArray = Float32Array>(tensor: Tensor): T {
  try {
    return tensor.dataSync() as T;
  } finally {
    tensor.dispose();
  }
}
