/** Conv2D and FusedConv2D in the addon's im2col + sgemm. */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ConvMode, type NativeBlas } from '../blas-loader.js';
import { applyEpilogue, fusedEpilogue } from './epilogue.js';
import { allFloat32, type Fallback, type KernelArgs } from './fallback.js';
import { nativeConv } from './native-conv.js';

export function conv2DKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => convForward(blas, fallback, args, false);
}

export function fusedConv2DKernel(blas: NativeBlas, fallback: Fallback): tf.KernelFunc {
  return (args) => convForward(blas, fallback, args, true);
}

function convForward(blas: NativeBlas, fallback: Fallback, args: KernelArgs, fused: boolean): tf.TensorInfo {
  const name = fused ? 'FusedConv2D' : 'Conv2D';
  const wasm = args.backend as BackendWasm;
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
  if (attrs.dataFormat === 'NCHW' || !allFloat32(x, filter, bias, preluActivationWeights)) return fallback(name, args) as tf.TensorInfo;
  const info = conv2DInfo(x!.shape, filter!.shape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode);
  const epilogue = fused ? fusedEpilogue(info.outShape, attrs, bias, preluActivationWeights) : undefined;
  if (epilogue === null) return fallback(name, args) as tf.TensorInfo;
  const out = wasm.makeOutput([...info.outShape], 'float32');
  nativeConv(blas, ConvMode.Forward, wasm, info, x!, filter!, out);
  if (epilogue) applyEpilogue(blas, wasm, out, epilogue);
  return out;
}

function conv2DInfo(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number] | undefined,
  pad: tf.Conv2DAttrs['pad'],
  roundingMode: tf.Conv2DAttrs['dimRoundingMode'],
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations ?? 1,
    pad,
    roundingMode,
  );
}
