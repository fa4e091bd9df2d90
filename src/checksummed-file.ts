import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-file.js';

/**
 * tfjs-distill's binary file format, for checkpoints and soft-label stores: 8 magic bytes, a little-endian
 * uint32 header length, a JSON header (with the format's version), the body, and the SHA-256 of the body
 * as a 32-byte trailer. The body is written and read in parts as they pass, so a large one never needs a
 * second copy in memory; the trailer lets a reader tell a damaged file from a good one.
 */

const PREFIX_BYTES = 12;
const HASH_BYTES = 32;

/**
 * Writes a file atomically ({@link writeFileAtomic}): a crash never leaves one that passes the checks
 * half-written. `writeBody` hands the body's parts to `write` in order. Returns the file's size.
 */
export async function writeChecksummedFile(
  path: string,
  magic: string,
  header: object,
  writeBody: (write: (part: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<number> {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(magic, 0, 8, 'ascii');
  prefix.writeUInt32LE(json.byteLength, 8);
  let size = PREFIX_BYTES + json.byteLength + HASH_BYTES;
  await writeFileAtomic(path, async (file) => {
    const hash = createHash('sha256');
    await file.write(prefix);
    await file.write(json);
    await writeBody(async (part) => {
      hash.update(part);
      size += part.byteLength;
      await file.write(part);
    });
    await file.write(hash.digest());
  });
  return size;
}

/** An open checksummed file whose prefix and header have been read; its body is read in parts. */
export interface ChecksummedFile<H> {
  header: H;
  /** Bytes between the header and the trailer. */
  bodyBytes: number;
  fileBytes: number;
  /**
   * Reads the body in parts of at most `partBytes`, handing each to `use` in order (and waiting for it:
   * the part's buffer is reused), then checks the trailer. Returns why the file is damaged, or undefined when the checksum matches.
   */
  readBody(partBytes: number, use: (part: Buffer, offset: number) => void | Promise<void>): Promise<string | undefined>;
}

/**
 * Opens `path`, checks its magic and reads its header, then runs `use` on it and closes the file. A file
 * that is absent or not of this format gives `{ reason }` instead (`format.kind` names the file in it):
 * the caller decides whether that is an error (a checkpoint) or a reason to compute the contents afresh
 * (a soft-label store).
 */
export async function readChecksummedFile<H, R>(
  path: string,
  format: { magic: string; kind: string },
  use: (file: ChecksummedFile<H>) => Promise<R>,
): Promise<R | { reason: string }> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch {
    return { reason: 'absent' };
  }
  try {
    const { size: fileBytes } = await file.stat();
    const prefix = Buffer.alloc(PREFIX_BYTES);
    const { bytesRead } = await file.read(prefix, 0, PREFIX_BYTES, 0);
    if (bytesRead < PREFIX_BYTES || prefix.toString('ascii', 0, 8) !== format.magic) return { reason: `not a tfjs-distill ${format.kind}` };
    const headerBytes = prefix.readUInt32LE(8);
    const bodyStart = PREFIX_BYTES + headerBytes;
    if (bodyStart + HASH_BYTES > fileBytes) return { reason: 'truncated header' };
    const json = Buffer.alloc(headerBytes);
    await file.read(json, 0, headerBytes, PREFIX_BYTES);
    let header: H;
    try {
      header = JSON.parse(json.toString('utf8'));
    } catch {
      return { reason: 'unreadable header' };
    }
    const bodyBytes = fileBytes - bodyStart - HASH_BYTES;
    return await use({
      header,
      bodyBytes,
      fileBytes,
      async readBody(partBytes, consume) {
        const hash = createHash('sha256');
        const buffer = Buffer.alloc(Math.min(partBytes, bodyBytes));
        for (let offset = 0; offset < bodyBytes; offset += partBytes) {
          const part = buffer.subarray(0, Math.min(partBytes, bodyBytes - offset));
          await file.read(part, 0, part.byteLength, bodyStart + offset);
          hash.update(part);
          await consume(part, offset); // the next part reuses the buffer
        }
        const trailer = Buffer.alloc(HASH_BYTES);
        await file.read(trailer, 0, HASH_BYTES, bodyStart + bodyBytes);
        return hash.digest().equals(trailer) ? undefined : 'checksum mismatch';
      },
    });
  } finally {
    await file.close();
  }
}
