/** Conv2D and FusedConv2D in the addon's im2col + sgemm. */
import tf from '../../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ConvMode, type NativeBlas } from '../blas-loader.js';
import { ACTIVATIONS, applyEpilogue, type Epilogue, fusedEpilogue } from './epilogue.js';
import { allFloat32, type Fallback, type KernelArgs } from './fallback.js';
import { type ConvBiasRelu, nativeConv } from './native-conv.js';

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
  const inConv = epilogue && convBiasRelu(epilogue, info.outChannels);
  nativeConv(blas, ConvMode.Forward, wasm, info, x!, filter!, out, inConv || undefined);
  if (epilogue && !inConv) applyEpilogue(blas, wasm, out, epilogue);
  return out;
}

/**
 * The epilogue as the conv's own bias and relu (applied to each chunk while it is in cache, not in one more
 * pass over the output), or null when it is not one of those: another activation, or a bias of other size.
 */
function convBiasRelu(e: Epilogue, outChannels: number): ConvBiasRelu | null {
  if (e.activation !== ACTIVATIONS.linear && e.activation !== ACTIVATIONS.relu) return null;
  if (e.bias && tf.util.sizeFromShape(e.bias.shape) !== outChannels) return null;
  return { bias: e.bias, relu: e.activation === ACTIVATIONS.relu };
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
