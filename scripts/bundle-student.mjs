#!/usr/bin/env node
// Bundles the browser entry point (dist/student/index.js, `tfjs-distill/student`) for browsers with esbuild:
// one ES module, @tensorflow/tfjs left to the page (an import map, or the app's own bundler). The example
// page uses it, and test/student-entry.test.ts measures it and checks that nothing of Node's is in it.
// Run: node scripts/bundle-student.mjs DIR   (writes DIR/student.js and DIR/tfjs.js, tfjs's own ES module build)
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ENTRY = join(ROOT, 'dist/student/index.js');
/** tfjs's flat ES module build, which the example page maps `@tensorflow/tfjs` to. */
export const TFJS_MODULE = join(ROOT, 'node_modules/@tensorflow/tfjs/dist/tf.fesm.min.js');

/**
 * The entry point bundled for `platform: 'browser'`, minified: its code, its size and gzipped size in
 * bytes, and the modules it still imports (only @tensorflow/tfjs when it is browser-safe). esbuild fails on
 * a Node built-in it cannot resolve for the browser, which is the first check.
 */
export async function bundleStudent({ minify = true } = {}) {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify,
    external: ['@tensorflow/tfjs'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  const output = Object.values(result.metafile.outputs)[0];
  return {
    code,
    bytes: code.byteLength,
    gzipBytes: gzipSync(code, { level: 9 }).byteLength,
    imports: output.imports.map((entry) => entry.path),
    inputs: Object.keys(result.metafile.inputs),
  };
}

/** Writes the bundle and tfjs's ES module into `dir` (student.js, tfjs.js), as the example page loads them. */
export async function writeBrowserModules(dir) {
  await mkdir(dir, { recursive: true });
  const bundle = await bundleStudent();
  await writeFile(join(dir, 'student.js'), bundle.code);
  await copyFile(TFJS_MODULE, join(dir, 'tfjs.js'));
  return bundle;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.argv[2] ?? join(ROOT, 'examples/browser/lib'));
  const bundle = await writeBrowserModules(dir);
  console.log(`wrote ${join(dir, 'student.js')}: ${bundle.bytes} bytes, ${bundle.gzipBytes} gzipped (tfjs excluded), and tfjs.js`);
}
