import tf from '../../tf.cjs';
import { check } from '../../errors.js';
import { type ArchitectureEntry, widthList } from './architecture-entry.js';

/** Units of the dense layer between a CNN's convolutions and its output. */
const CNN_DENSE_UNITS = 128;

/**
 * For image rows [H, W] or [H, W, C]: per entry a 3x3 same-padded ReLU convolution with that many filters
 * and a 2x2 max-pool, then a dense ReLU layer of 128 units.
 */
export const cnnArchitecture: ArchitectureEntry = {
  name: 'cnn',
  usage: 'cnn:F1,F2,...',
  arguments: 'conv filters per block',
  example: 'cnn:32,64',
  description: 'a convolutional net for images: per entry a 3x3 ReLU convolution and a 2x2 max-pool, then 128 dense units',
  rows: 'images',
  layers(args, { spec, inputShape, kernel }) {
    const filtersPerBlock = widthList(args, spec);
    if (!filtersPerBlock) return undefined;
    const [height, width] = inputShape;
    const blocks = filtersPerBlock.length;
    check(
      height >> blocks >= 1 && width >> blocks >= 1,
      `architecture '${spec}' has ${blocks} pooling blocks, too many for ${height}x${width} images: use fewer conv entries`,
    );
    const channels = inputShape.length === 2 ? [tf.layers.reshape({ targetShape: [...inputShape, 1] })] : [];
    return [
      ...channels,
      ...filtersPerBlock.flatMap((filters) => [
        tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: kernel() }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
      ]),
      tf.layers.flatten(),
      tf.layers.dense({ units: CNN_DENSE_UNITS, activation: 'relu', kernelInitializer: kernel() }),
    ];
  },
};
