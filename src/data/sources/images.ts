import { loadImageFolder } from '../image-folder.js';
import { imageContract } from '../source-contracts.js';
import type { DataSourceEntry } from './source-entry.js';

export const imagesSource: DataSourceEntry = {
  kind: 'images',
  usage: 'images:DIR',
  description: 'a folder of images, DIR/train/<class>/*.png and DIR/test/<class>/..., decoded by worker threads',
  argument: 'path',
  settings: ['imageSize', 'channels', 'skipBadImages', 'workers', 'onImageProgress'],
  async load(dir, options) {
    const load = (split: 'train' | 'test', classes?: string[], imageSize = options.imageSize, channels = options.channels) =>
      loadImageFolder(dir, {
        split,
        classes,
        imageSize,
        channels,
        workers: options.workers,
        skipBadImages: options.skipBadImages,
        onProgress: (done, total) => options.onImageProgress?.(split, done, total),
      });
    const train = await load('train');
    // The test images take the training images' size and channels, and their class list.
    const [, height, width, channels] = train.dataset.shape;
    const test = await load('test', train.classes, [height, width], channels as 1 | 3);
    const numClasses = Math.max(train.classes.length, 2);
    return {
      train: { ...train.dataset, numClasses },
      test: { ...test.dataset, numClasses },
      classes: train.classes,
      skippedImages: train.skipped.length + test.skipped.length,
      // Resized to imageSize with channels as decoded; uint8 pixels, which the run scales by 1/255.
      contract: imageContract([height, width, channels]),
    };
  },
};
