import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `parts` to `path` so that a crash at any moment leaves either the old file or the complete new
 * one: the bytes go to a temporary sibling, are flushed to disk (fsync), and the sibling is renamed over
 * `path`; the directory is flushed too, so the rename itself survives a power cut.
 */
export async function writeFileAtomic(path: string, parts: Uint8Array[]): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const file = await open(temp, 'w');
    try {
      for (const part of parts) await file.write(part);
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
