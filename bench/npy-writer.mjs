// A float32 array as a NumPy .npy file (format 1.0, little-endian, C order), as numpy.save writes it: the
// soft labels and token ids the benches hand to tfjs-distill and to PyTorch.

/** The bytes of a .npy file holding `values` (a Float32Array) in `shape`. */
export function npyFloat32(values, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += `${' '.repeat(64 - ((10 + header.length + 1) % 64))}\n`;
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}
