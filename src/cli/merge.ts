import { resolve } from 'node:path';
import { mergeShards } from '../data/soft-label-shards.js';
import { DistillError } from '../errors.js';

/** `tfjs-distill merge OUT SHARD...`: checks the shards cover every row once, then writes the store. */
export async function mergeCommand(args: string[]): Promise<void> {
  const flag = args.find((arg) => arg.startsWith('--'));
  if (flag) throw new DistillError(`merge takes no flags, got ${flag}; use tfjs-distill merge OUT.sl SHARD...`);
  const [out, ...shards] = args;
  if (!out || shards.length === 0)
    throw new DistillError('merge needs the store to write and the shards: tfjs-distill merge OUT.sl SHARD...');
  const result = await mergeShards(resolve(out), shards);
  process.stdout.write(
    `merged ${shards.length} shard${shards.length === 1 ? '' : 's'} into ${out}: ${result.rows} rows, key ${result.key}, ` +
      `${result.fileBytes} bytes\n`,
  );
}
