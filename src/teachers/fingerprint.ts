import { createHash } from 'node:crypto';
import { type Dataset, holdsPixels } from '../data/dataset.js';
import type { ModelData } from '../models/model-data.js';

/** Integer token ids hashed a block at a time as float32, so that no float32 copy of the whole table is made. */
class AsFloat32 {
  constructor(readonly ids: Uint8Array | Uint16Array | Int32Array) {}
}

/** Token ids converted per block of this many. */
const HASH_BLOCK = 1 << 16;

/** A short, stable hash of some bytes and strings. */
function digest(parts: (ArrayBufferView | string | AsFloat32)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    if (typeof part === 'string') hash.update(part);
    else if (part instanceof AsFloat32) {
      const block = new Float32Array(Math.min(HASH_BLOCK, part.ids.length));
      for (let start = 0; start < part.ids.length; start += HASH_BLOCK) {
        const ids = part.ids.subarray(start, start + HASH_BLOCK);
        block.set(ids);
        hash.update(new Uint8Array(block.buffer, 0, ids.length * Float32Array.BYTES_PER_ELEMENT));
      }
    } else hash.update(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * A dataset's identity as the workers see it: its values, labels and shape, and its preprocessing
 * (uint8 pixels are scaled by 1/255 on the way in, float features are used as given; text rows name their
 * tokenizer, length and augmentation in preprocessingKey). Integer token ids hash as the float32 ids they
 * were once held as, so that a store labelled then is still found.
 */
export function datasetDigest(data: Dataset): string {
  const preprocessing = holdsPixels(data) ? 'uint8/255' : 'float32';
  const made = data.preprocessingKey === undefined ? [] : [data.preprocessingKey];
  const { x } = data;
  const values = x instanceof Float32Array || holdsPixels(data) ? x : new AsFloat32(x);
  return digest([JSON.stringify([data.shape, data.numClasses, preprocessing, ...made]), values, data.y]);
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
