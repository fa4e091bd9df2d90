// The options that name files, made absolute: the CLI does it for flags and config files (so that report.json
// names the same files from anywhere), and a queue sweep for the options its jobs carry to other machines.
import { resolve } from 'node:path';
import { absoluteSource } from '../data/data-source.js';
import { isPlainObject } from '../known-keys.js';
import { isArchitectureSpec } from '../models/architectures.js';
import { absoluteUnlessUrl } from '../url-or-path.js';

/**
 * `settings` with every path in it made absolute, relative paths taken from `base`: the data sources, the
 * teacher (each member of an ensemble) and student files (not architectures), the logits, store, tokenizer and
 * output paths, a loss module and the worker imports. URLs (file:, data:, node:) and values that are not
 * strings (models in memory) stay as they are; keys set to undefined are dropped.
 */
export function absoluteOptionPaths(settings: Record<string, unknown>, base: string): Record<string, unknown> {
  const out = { ...settings };
  const path = (value: unknown) => (typeof value === 'string' ? resolve(base, value) : value);
  for (const key of ['data', 'testData']) if (typeof out[key] === 'string') out[key] = absoluteSource(out[key] as string, base);
  const modelPath = (value: unknown) => (typeof value === 'string' && !isArchitectureSpec(value) ? path(value) : value);
  out.teacher = Array.isArray(out.teacher) ? out.teacher.map(modelPath) : modelPath(out.teacher);
  out.student = modelPath(out.student);
  for (const key of ['teacherLogits', 'teacherTestLogits', 'softLabels', 'tokenizer', 'out']) out[key] = path(out[key]);
  const loss = out.loss;
  if (isPlainObject(loss) && typeof loss.module === 'string') out.loss = { ...loss, module: absoluteUnlessUrl(loss.module, base) };
  if (Array.isArray(out.workerImports)) {
    out.workerImports = out.workerImports.map((m) => (typeof m === 'string' ? absoluteUnlessUrl(m, base) : m));
  }
  return Object.fromEntries(Object.entries(out).filter(([, value]) => value !== undefined));
}
