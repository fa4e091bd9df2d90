#!/usr/bin/env node
// A small static file server: the example page and a student folder, as any static host would serve them.
// Run: node scripts/serve-static.mjs [STUDENT_DIR] [--port N]   (the page at /, STUDENT_DIR at /student/)
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.css': 'text/css',
};

/** The file a request path names under one of `mounts` (URL prefix -> folder), or undefined. */
function fileOf(mounts, path) {
  const prefix = Object.keys(mounts)
    .filter((candidate) => path.startsWith(candidate))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix === undefined) return undefined;
  const root = resolve(mounts[prefix]);
  const file = normalize(join(root, decodeURIComponent(path.slice(prefix.length))));
  return file === root || file.startsWith(root + sep) ? file : undefined;
}

/** Serves `mounts` ({ '/': dir, '/student/': dir }) on 127.0.0.1; resolves to the server and its base URL. */
export function serveStatic(mounts, port = 0) {
  const server = createServer(async (request, response) => {
    let file = fileOf(mounts, new URL(request.url, 'http://localhost').pathname);
    try {
      if (file && (await stat(file)).isDirectory()) file = join(file, 'index.html');
      if (!file || !(await stat(file)).isFile()) throw new Error('not found');
    } catch {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(response);
  });
  return new Promise((done) => server.listen(port, '127.0.0.1', () => done({ server, url: `http://127.0.0.1:${server.address().port}/` })));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const portAt = args.indexOf('--port');
  const port = portAt >= 0 ? Number(args.splice(portAt, 2)[1]) : 8080;
  const example = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples/browser');
  const mounts = { '/': example, ...(args[0] && { '/student/': args[0] }) };
  const { url } = await serveStatic(mounts, port);
  console.log(
    `serving the example page at ${url}${args[0] ? ` with ${args[0]} at ${url}student/` : ' (copy a student folder to examples/browser/student/)'}`,
  );
}
