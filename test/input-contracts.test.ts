import { describe, expect, it } from 'vitest';
import { dataInputContract, datasetContract, imageContract } from '../dist/index.js';

const rows = (x: Float32Array | Uint8Array, shape: number[]) => ({ x, y: new Int32Array(shape[0]), shape, numClasses: 2 });

describe('the input contract of rows known only as a Dataset', () => {
  it('uint8 rows shaped like images are images, pixels times 1/255', () => {
    for (const shape of [
      [2, 4, 5],
      [2, 4, 5, 1],
      [2, 4, 5, 3],
    ]) {
      const contract = datasetContract(rows(new Uint8Array(shape.reduce((a, b) => a * b)), shape));
      expect(contract).toEqual({
        format: 'tfjs-distill/preprocessing',
        version: 1,
        inputShape: shape.slice(1),
        kind: 'image',
        height: 4,
        width: 5,
        channels: shape[3] ?? 1,
        layout: 'hwc',
        scale: 1 / 255,
      });
    }
  });

  it('other uint8 rows (a flat NPY array) are vectors times 1/255; float rows (NPY, headerless CSV) are taken as given', () => {
    expect(datasetContract(rows(new Uint8Array(12), [2, 6]))).toEqual({
      format: 'tfjs-distill/preprocessing',
      version: 1,
      inputShape: [6],
      kind: 'vector',
      scale: 1 / 255,
    });
    expect(datasetContract(rows(new Uint8Array(2 * 4 * 5 * 2), [2, 4, 5, 2]))).toMatchObject({ kind: 'vector', scale: 1 / 255 });
    expect(datasetContract(rows(new Float32Array(8), [2, 2, 2]))).toEqual({
      format: 'tfjs-distill/preprocessing',
      version: 1,
      inputShape: [2, 2],
      kind: 'vector',
    });
  });

  it('a source’s own contract wins over what the rows show', () => {
    const train = rows(new Float32Array(2 * 28 * 28), [2, 28, 28]);
    expect(dataInputContract({ train }).kind).toBe('vector');
    expect(dataInputContract({ train, contract: imageContract([28, 28]) }).kind).toBe('image');
  });
});
