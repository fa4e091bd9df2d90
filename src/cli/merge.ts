import { resolve } from 'node:path';
import { mergeShards } from '../data/soft-label-shards.js';
import { DistillError } from '../errors.js';

/**
 * `tfjs-distill merge OUT SHARD...`: checks the shards cover every row once, then writes the store. The
 * store may instead come from --soft-labels or a config file's softLabels (a label command's), and then
 * every argument is a shard.
 */
export async function mergeCommand(settings: Record<string, unknown>, args: string[]): Promise<void> {
  const named = typeof settings.softLabels === 'string' ? settings.softLabels : undefined;
  const [out, ...shards] = named === undefined ? args : [named, ...args];
  if (!out || shards.length === 0)
    throw new DistillError('merge needs the store to write and the shards: tfjs-distill merge OUT.sl SHARD...');
  const result = await mergeShards(resolve(out), shards);
  process.stdout.write(
    `merged ${shards.length} shard${shards.length === 1 ? '' : 's'} into ${out}: ${result.rows} rows, key ${result.key}, ` +
      `${result.fileBytes} bytes\n`,
  );
}
