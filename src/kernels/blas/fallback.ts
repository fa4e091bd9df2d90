/** What every native kernel shares: its arguments, and the float32 test that sends other calls to the kernel it replaced. */
import type * as tf from '@tensorflow/tfjs';

export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Runs the kernel registered before under `name` (the one a native kernel replaced) on `args`. */
export type Fallback = (name: string, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

export const allFloat32 = (...tensors: (tf.TensorInfo | undefined)[]) => tensors.every((t) => t == null || t.dtype === 'float32');
