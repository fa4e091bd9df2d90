#!/usr/bin/env node
// Checks that no import in src/ runs back up the data flow:
//   root helpers -> data/ -> models/, kernels/ -> parallel/ -> infer/, train/ -> worker.ts -> options/ -> reports/
//   -> pool/ -> teachers/ -> labelling/ -> distill/, queue/ -> cli/, index.ts
// student/ (the browser entry point, tfjs-distill/student) sits beside models/ and kernels/, and nothing it
// loads, followed through every import, may be a Node built-in or a Node-only package.
// A file may import from its own folder and from folders earlier in the flow, never from a later one or a
// sibling (models/ and kernels/, infer/ and train/ are independent). parallel/ also imports no tfjs.
// Run: node scripts/check-layers.mjs (exit 1 and one line per offending import).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The data flow, in order; folders on one rank are siblings. Root files not listed are shared helpers. */
export const RANKS = {
  '.': 0, // errors, random, atomic-file, checksummed-file, progress
  data: 1,
  models: 2,
  kernels: 2,
  student: 2, // the browser entry point: loads a shipped student folder and predicts
  parallel: 3,
  infer: 4,
  train: 4,
  'worker.ts': 5,
  options: 6, // the option schema, its groups and checks
  reports: 7, // what a run reports, and its HTML page
  pool: 8, // the worker pool and its supervisor
  teachers: 9, // opening every kind of teacher
  labelling: 10, // teacher labelling into the soft-label store
  distill: 11, // the pipeline
  queue: 11, // labelling across machines
  sweep: 12, // many distillations of one labelling, and their report
  cli: 13,
  'index.ts': 13,
};

/** Modules a folder must not import at all. */
const FORBIDDEN_PACKAGES = { parallel: [/^@tensorflow\//] };

/** Folders that run in browsers: what they load, through every value import, must run there. */
const BROWSER_SAFE = ['student'];
/** Modules a browser does not have: Node built-ins and the packages that wrap native code or threads. */
const NODE_ONLY =
  /^(node:|piscina$|onnxruntime-node|@tensorflow\/tfjs-node|@tensorflow\/tfjs-backend-wasm|sharp$|bullmq$|ioredis$|(fs|path|os|url|crypto|child_process|worker_threads|module|util|stream|zlib|http|https|net)(\/|$))/;
/** Value imports only: `import type` and `export type` vanish when compiled. */
const VALUE_IMPORT = /(?:^|\s)(?:import|export)\s+(?!type\s)[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm;

const IMPORT = /(?:^|\s)(?:import|export)\s[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm;

/** The .ts files under `dir`, at any depth. */
export function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** The rank key of a file under src/: its top folder, or its own name at the root (helpers share '.'). */
function unitOf(src, file) {
  const parts = relative(src, file).split('/');
  if (parts.length > 1) return parts[0];
  return parts[0] in RANKS ? parts[0] : '.';
}

/** Every import that runs back up the flow, as 'file: imports target (why)'. */
export function layerViolations(src) {
  const problems = [];
  for (const file of walk(src)) {
    const unit = unitOf(src, file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      const name = relative(src, file);
      if (!specifier.startsWith('.')) {
        for (const pattern of FORBIDDEN_PACKAGES[unit] ?? []) {
          if (pattern.test(specifier)) problems.push(`${name}: imports ${specifier} (${unit}/ must not depend on it)`);
        }
        continue;
      }
      const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
      const targetUnit = unitOf(src, target);
      if (targetUnit === unit) continue;
      const [from, to] = [RANKS[unit], RANKS[targetUnit]];
      if (from === undefined || to === undefined) {
        problems.push(`${name}: imports ${specifier} (a folder the flow does not name: add it to RANKS)`);
      } else if (to >= from) {
        problems.push(
          `${name}: imports ${specifier} (${targetUnit} is ${to === from ? 'a sibling of' : 'after'} ${unit} in the data flow)`,
        );
      }
    }
  }
  return problems;
}

/** Every Node-only module a browser-safe folder loads, directly or through the files it imports. */
export function browserSafetyViolations(src) {
  const problems = [];
  for (const folder of BROWSER_SAFE) {
    const seen = new Set();
    const pending = walk(join(src, folder)).map((file) => [file, `${folder}/`]);
    while (pending.length > 0) {
      const [file, via] = pending.pop();
      if (seen.has(file)) continue;
      seen.add(file);
      const name = relative(src, file);
      for (const match of readFileSync(file, 'utf8').matchAll(VALUE_IMPORT)) {
        const specifier = match[1] ?? match[2] ?? match[3];
        if (specifier.startsWith('.')) pending.push([resolve(dirname(file), specifier).replace(/\.js$/, '.ts'), `${via} -> ${name}`]);
        else if (NODE_ONLY.test(specifier))
          problems.push(`${name}: imports ${specifier}, which browsers lack (loaded by ${via}; ${folder}/ must run in browsers)`);
      }
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
  const problems = [...layerViolations(src), ...browserSafetyViolations(src)];
  for (const problem of problems) console.log(problem);
  console.log(problems.length === 0 ? 'no import runs back up the data flow' : `${problems.length} imports run back up the data flow`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
