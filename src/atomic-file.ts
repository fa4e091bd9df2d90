import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `path` so that a crash at any moment leaves either the old file or the complete new one: `write`
 * fills a temporary sibling, which is flushed to disk (fsync) and renamed over `path`; the directory is
 * flushed too, so the rename itself survives a power cut.
 */
export async function writeFileAtomic(path: string, write: (file: FileHandle) => Promise<void>): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const file = await open(temp, 'w');
    try {
      await write(file);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** {@link writeFileAtomic} for bytes already in memory. */
export function writeBytesAtomic(path: string, parts: Uint8Array[]): Promise<void> {
  return writeFileAtomic(path, async (file) => {
    for (const part of parts) await file.write(part);
  });
}
