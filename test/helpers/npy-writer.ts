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
