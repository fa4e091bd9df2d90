import { createHash } from 'node:crypto';
import type { Dataset } from '../data/dataset.js';
import type { ModelData } from '../models/model-data.js';

/** A short, stable hash of some bytes and strings. */
function digest(parts: (ArrayBufferView | string)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(typeof part === 'string' ? part : new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
  return hash.digest('hex').slice(0, 16);
}

/**
 * A dataset's identity as the workers see it: its values, labels and shape, and its preprocessing
 * (uint8 pixels are scaled by 1/255 on the way in, float features are used as given; text rows name their
 * tokenizer, length and augmentation in preprocessingKey).
 */
export function datasetDigest(data: Dataset): string {
  const preprocessing = data.x instanceof Uint8Array ? 'uint8/255' : 'float32';
  const made = data.preprocessingKey === undefined ? [] : [data.preprocessingKey];
  return digest([JSON.stringify([data.shape, data.numClasses, preprocessing, ...made]), data.x, data.y]);
}

/** A model's identity: its weights' shapes and values (names depend on what the process built before). */
export function modelDigest(model: ModelData): string {
  return digest([JSON.stringify(model.weightSpecs.map((spec) => [spec.shape, spec.dtype])), new Uint8Array(model.weights)]);
}

/**
 * An ensemble's identity: how it combines (the temperature too, when it averages probabilities) and every
 * member's identity, in order (the order of a float sum is part of its bits).
 */
export function ensembleDigest(memberDigests: string[], combine: string, temperature: number): string {
  return digest([JSON.stringify(['ensemble', combine, combine === 'probabilities' ? temperature : null, memberDigests])]);
}

/** The key of a soft-label table: which teacher (its digest, preprocessing included) labelled which data. */
export function softLabelKey(teacherDigest: string, data: Dataset): string {
  return digest([teacherDigest, datasetDigest(data)]);
}

/** A teacher's identity with the preprocessing its input gets: what its logits depend on besides the data. */
export function teacherDigest(modelDigestValue: string, preprocessing: object | undefined): string {
  return preprocessing === undefined ? modelDigestValue : digest([modelDigestValue, JSON.stringify(preprocessing)]);
}
