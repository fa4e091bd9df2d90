import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../dist/kernels/backend.js';

const require = createRequire(import.meta.url);
/** tfjs-node's folder; undefined where it is not installed (npm drops the optional package when its install fails). */
function installedRoot(): string | undefined {
  try {
    return dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    return undefined;
  }
}
const root = installedRoot() ?? '';
const lib = join(root, 'lib');
const addonBuilt = existsSync(lib) && readdirSync(lib).some((folder) => existsSync(join(lib, folder, 'tfjs_binding.node')));

describe('the tensorflow backend when tfjs-node is installed without its native addon', () => {
  it.skipIf(!root || addonBuilt)(
    'fails before tfjs-node is imported, naming the rebuild, and auto goes on to the next backend',
    async () => {
      const init = await initBackend(['tensorflow', 'cpu']);
      expect(init.backend).toBe('cpu');
      expect(init.failures.tensorflow).toMatch(
        /^@tensorflow\/tfjs-node is installed without its native addon \(no .*napi-v\*\/tfjs_binding\.node\); run 'npm rebuild @tensorflow\/tfjs-node'/,
      );
      expect(Object.keys(require.cache).filter((file) => file.startsWith(root))).toEqual([]);
    },
  );
});
