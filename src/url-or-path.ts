/**
 * One answer to "is this a URL or a file path" for module specifiers, teachers and data: a scheme of two
 * letters or more (file:, data:, node:, https:) makes a URL; a single letter before the colon is a Windows
 * drive (C:\models\t.onnx, C:/models), which is a path.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DistillError, messageOf } from './errors.js';

const SCHEME = /^[a-z][a-z0-9+.-]+:/i;
const WINDOWS_DRIVE = /^[a-z]:[\\/]/i;

/** True when `specifier` is a URL (a scheme of two or more characters), false for a path, Windows drives included. */
export function isUrl(specifier: string): boolean {
  return SCHEME.test(specifier) && !WINDOWS_DRIVE.test(specifier);
}

/** A path made absolute against `base`; a URL as it is. */
export function absoluteUnlessUrl(specifier: string, base: string = process.cwd()): string {
  return isUrl(specifier) || isAbsolute(specifier) ? specifier : resolve(base, specifier);
}

/** What `import()` takes for a module: a URL as it is, a path (relative to the working directory) as a file: URL. */
export function importSpecifier(specifier: string): string {
  return isUrl(specifier) ? specifier : pathToFileURL(resolve(specifier)).href;
}

/**
 * Imports modules in this thread, in order (custom layers must be registered before a model loads or is
 * built); a module that fails is a one-line error, `failed(module)` followed by the reason.
 */
export async function importModules(modules: readonly string[], failed: (module: string) => string, options: string[] = []): Promise<void> {
  for (const module of modules) {
    try {
      await import(importSpecifier(module));
    } catch (error) {
      throw new DistillError(`${failed(module)}: ${messageOf(error)}`, options);
    }
  }
}
