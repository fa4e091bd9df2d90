import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mulberry32 } from '../../dist/random.js';

/** A .npy file as numpy.save writes it (format 1.0, little-endian), for tests that feed NumPy arrays. */
export function npy(values: Uint8Array | Int32Array | Float32Array | Float64Array, shape: number[]): Buffer {
  const descr =
    values instanceof Uint8Array ? '|u1' : values instanceof Int32Array ? '<i4' : values instanceof Float32Array ? '<f4' : '<f8';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += `${' '.repeat(64 - ((10 + header.length + 1) % 64))}\n`;
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

/**
 * `rows` seeded [8, 8] greyscale rows (values in [-2, 2) in steps of 1/16, as cnn_gray.onnx takes them) and labels
 * cycling over 3 classes, written as x.npy and y.npy in `dir`; returns the `npy:` data setting that reads them.
 */
export async function writeGreyRows(dir: string, rows: number): Promise<string> {
  const random = mulberry32(7);
  const x = Float32Array.from({ length: rows * 64 }, () => Math.floor(random() * 64 - 32) / 16);
  const y = Int32Array.from({ length: rows }, (_, i) => i % 3);
  await writeFile(join(dir, 'x.npy'), npy(x, [rows, 8, 8]));
  await writeFile(join(dir, 'y.npy'), npy(y, [rows]));
  return `npy:${join(dir, 'x.npy')},${join(dir, 'y.npy')}`;
}
