import tf from '../tf.cjs';
import { check } from '../errors.js';

/**
 * The Conv2DInfo of a conv gradient kernel (NHWC, dilation 1, as tfjs's conv gradients are), after checking
 * that dy has the conv's output shape.
 */
export function convGradientInfo(
  kernelName: string,
  xShape: number[],
  filterShape: number[],
  attrs: Pick<tf.Conv2DBackpropInputAttrs, 'strides' | 'pad' | 'dimRoundingMode'>,
  dyShape: number[],
): tf.backend_util.Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  check(tf.util.arraysEqual(dyShape, info.outShape), () => `${kernelName}: dy has shape [${dyShape}], expected [${info.outShape}]`);
  return info;
}

/** The Pool2DInfo of a MaxPoolGrad kernel (NHWC; pools have no dilation) for an input of shape `xShape`. */
export function maxPoolGradInfo(xShape: number[], attrs: tf.MaxPoolGradAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}
