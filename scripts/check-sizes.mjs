#!/usr/bin/env node
// Checks that every source file and function is short enough for a reader to hold: no file over 400 lines and
// no function over 120 lines (declarations, methods, constructors, accessors, arrow functions and function
// expressions, nested ones included, each measured by its own span from its first line to its last).
// Checked by default: src/, scripts/, bench/ and native/ (its C files for their length only). Not checked: test/, where a suite is one `describe(() => { ... })`
// callback, so the function rule would measure whole suites rather than code a reader follows; the cases inside
// are read one `it` at a time. It can still be looked at with `node scripts/check-sizes.mjs test`.
// Run: node scripts/check-sizes.mjs [folder...] (exit 1 and one line per offender).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const FILE_LIMIT = 400;
export const FUNCTION_LIMIT = 120;

/**
 * Files exempt from the file limit, relative to the repository root, each with why. Only generated tables
 * (data written by a program, not code a reader follows) belong here; their functions are still checked.
 */
export const GENERATED_TABLES = {};

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs|c|h)$/;
/** C sources (the native addon) are held to the file limit; their functions are not parsed. */
const C_SOURCE = /\.[ch]$/;
const DEFAULT_FOLDERS = ['src', 'scripts', 'bench', 'native'];

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name === 'build') return [];
    if (entry.isDirectory()) return walk(join(dir, entry.name));
    return SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [join(dir, entry.name)] : [];
  });
}

function lineCount(text) {
  if (text.length === 0) return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

function isFunction(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node)
  );
}

function propertyName(name, source) {
  return ts.isIdentifier(name) || ts.isPrivateIdentifier(name) || ts.isStringLiteral(name) ? name.text : name.getText(source);
}

/** What a reader would call a function: its own name, the name it is bound to, or the call it is passed to. */
function functionName(node, source) {
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (node.name) return propertyName(node.name, source);
  const parent = node.parent;
  if ((ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) && parent.name) {
    return propertyName(parent.name, source);
  }
  if (ts.isCallExpression(parent)) return `(callback to ${parent.expression.getText(source)})`;
  return '(anonymous function)';
}

function scriptKind(file) {
  return /\.[cm]?js$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
}

/**
 * Every file over the file limit and every function over the function limit under `folder`, as
 * 'file:line name N lines (limit L)', with file relative to `base` (the folder itself unless given).
 */
export function sizeViolations(folder, { base = folder, fileLimit = FILE_LIMIT, functionLimit = FUNCTION_LIMIT, exempt = {} } = {}) {
  const problems = [];
  for (const file of walk(folder).sort()) {
    const name = relative(base, file);
    const text = readFileSync(file, 'utf8');
    const lines = lineCount(text);
    if (lines > fileLimit && !(name in exempt)) problems.push(`${name}:1 (file) ${lines} lines (limit ${fileLimit})`);
    if (C_SOURCE.test(file)) continue;
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, scriptKind(file));
    const visit = (node) => {
      if (isFunction(node)) {
        const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const span = last - first + 1;
        if (span > functionLimit) {
          problems.push(`${name}:${first + 1} ${functionName(node, source)} ${span} lines (limit ${functionLimit})`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const folders = process.argv.length > 2 ? process.argv.slice(2) : DEFAULT_FOLDERS;
  const problems = folders.flatMap((folder) => sizeViolations(join(root, folder), { base: root, exempt: GENERATED_TABLES }));
  for (const problem of problems) console.log(problem);
  console.log(
    problems.length === 0
      ? `no file over ${FILE_LIMIT} lines and no function over ${FUNCTION_LIMIT} in ${folders.join('/, ')}/`
      : `${problems.length} files or functions over the size limits`,
  );
  process.exitCode = problems.length === 0 ? 0 : 1;
}
