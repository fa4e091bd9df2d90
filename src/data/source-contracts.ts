// The input contract (preprocessing.json) of the rows a data source loads: how a raw example (an image's
// pixels, a text) becomes one of those rows. Each source that prepares its rows says so in its splits
// (`contract`); dataInputContract is the one place a run takes it from.
import { type Dataset, featureShape, holdsPixels } from './dataset.js';
import {
  INPUT_CONTRACT_VERSION,
  type ImageContract,
  type InputContract,
  type TextContract,
  type VectorContract,
} from './input-contract.js';
import type { DataSplits } from './sources/source-entry.js';

/** What a 0..255 pixel is multiplied by: the run scales uint8 rows by 1/255 (shared-dataset.ts). */
export const PIXEL_SCALE = 1 / 255;

const base = (inputShape: number[]) => ({ format: 'tfjs-distill/preprocessing', version: INPUT_CONTRACT_VERSION, inputShape }) as const;

/** Whether a row shape is an image's: height x width, or height x width x 1 or 3 channels. */
const isImageShape = (shape: number[]) => shape.length === 2 || (shape.length === 3 && (shape[2] === 1 || shape[2] === 3));

/** Images of `inputShape` ([height, width] for one channel, or [height, width, channels]), pixels times `scale`. */
export function imageContract(inputShape: number[], scale = PIXEL_SCALE): ImageContract {
  const [height, width, channels = 1] = inputShape;
  return { ...base(inputShape), kind: 'image', height, width, channels: channels as 1 | 3, layout: 'hwc', scale };
}

/** Rows taken as given (times `scale` when it is not 1). */
export function vectorContract(inputShape: number[], scale = 1): VectorContract {
  return { ...base(inputShape), kind: 'vector', ...(scale !== 1 && { scale }) };
}

/** Token-id rows of `maxLength`, made with the tokenizer files named, its pad id swapped with 0. */
export function textContract(settings: Omit<TextContract, 'format' | 'version' | 'inputShape' | 'kind' | 'truncationSide'>): TextContract {
  const { textPairField, ...rest } = settings;
  return {
    ...base([settings.maxLength]),
    kind: 'text',
    ...rest,
    truncationSide: 'right',
    ...(textPairField !== undefined && { textPairField }),
  };
}

/**
 * The contract of rows known only as a Dataset: uint8 rows are pixels the run scales by 1/255 (an image
 * when their shape is one), other rows are taken as given.
 */
export function datasetContract(dataset: Dataset): InputContract {
  const shape = featureShape(dataset);
  if (!holdsPixels(dataset)) return vectorContract(shape);
  return isImageShape(shape) ? imageContract(shape) : vectorContract(shape, PIXEL_SCALE);
}

/** The input contract of a run's data: the one its source gave, else what its training rows show. */
export function dataInputContract(splits: Pick<DataSplits, 'train' | 'contract'>): InputContract {
  return splits.contract ?? datasetContract(splits.train);
}
