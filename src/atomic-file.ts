import { type FileHandle, open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `path` so that a crash at any moment leaves either the old file or the complete new one: `write`
 * fills a temporary sibling, which is flushed to disk (fsync) and renamed over `path`; the directory is
 * flushed too, so the rename itself survives a power cut.
 */
export async function writeFileAtomic(path: string, write: (file: FileHandle) => Promise<void>): Promise<void> {
  const temp = `${path}${TEMP_INFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
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

const TEMP_INFIX = '.tmp-';
/** A temporary sibling's name: the file's, then the writer's process id and a random suffix. */
const TEMP_NAME = /\.tmp-(\d+)-[0-9a-z]+$/;

/** Whether process `pid` is running (on this machine). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/**
 * Removes the temporary siblings in `dir` that a writer killed mid-write left behind (its process is gone),
 * and returns their names. Another live process's writes are left alone.
 */
export async function removeAbandonedTemps(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const abandoned = names.filter((name) => {
    const match = TEMP_NAME.exec(name);
    return match !== null && !isRunning(Number(match[1]));
  });
  await Promise.all(abandoned.map((name) => rm(join(dir, name), { force: true })));
  return abandoned;
}

/** {@link writeFileAtomic} for bytes already in memory. */
export function writeBytesAtomic(path: string, parts: Uint8Array[]): Promise<void> {
  return writeFileAtomic(path, async (file) => {
    for (const part of parts) await file.write(part);
  });
}
