// Builds native/build/tfjs_distill_blas.node: tfjs-distill's OpenBLAS kernels for the wasm backend (blas.c, conv.c), the
// training step's exchange loops (exchange.c, averaged-update.c), max pools and reductions (reductions.c), a bias add (elementwise.c), an
// embedding's gather and gradient (embedding.c), a text student's fused embedding front (token-front.c), a plain
// dense student's layers while it trains (dense-chain.c), and a cnn1d student's convolution front (token-conv.c, token-conv-backward.c),
// with the scratch buffers each thread keeps (scratch.c).
// Run by `npm install` / `npm ci` (the package's install script): it never fails the install. It prints one
// line, saying what it built or why it skipped; without the addon, the wasm backend uses its own kernels.
// OpenBLAS itself is found at run time (dlopen), so the build needs only a C compiler and Node's headers.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'build', 'tfjs_distill_blas.node');

function skip(reason) {
  rmSync(out, { force: true }); // an addon from an earlier build would not match this version's JavaScript
  console.log(`tfjs-distill: native OpenBLAS kernels not built (${reason}); the wasm backend will use its own kernels`);
  process.exit(0);
}

try {
  if (process.platform === 'win32') skip('Windows is not supported');
  const include = resolve(dirname(process.execPath), '..', 'include', 'node');
  if (!existsSync(join(include, 'node_api.h'))) skip(`Node's headers are not at ${include}`);
  const cc = process.env.CC || 'cc';
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const shared = process.platform === 'darwin' ? ['-bundle', '-undefined', 'dynamic_lookup'] : ['-shared'];
  try {
    execFileSync(cc, ['-O3', '-fno-math-errno', '-ffp-contract=off', '-fPIC', '-std=c11', '-D_GNU_SOURCE', '-Wall', `-I${include}`, join(here, 'blas.c'), join(here, 'conv.c'), join(here, 'exchange.c'), join(here, 'averaged-update.c'), join(here, 'reductions.c'), join(here, 'elementwise.c'), join(here, 'embedding.c'), join(here, 'token-front.c'), join(here, 'dense-chain.c'), join(here, 'token-conv.c'), join(here, 'token-conv-backward.c'), join(here, 'scratch.c'), join(here, 'activation-grad.c'), ...shared, '-o', tmp, '-ldl', '-lm', '-lpthread'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    rmSync(tmp, { force: true });
    const stderr = String(error.stderr ?? error.message).trim().split('\n')[0];
    skip(`${cc} failed: ${stderr}`);
  }
  renameSync(tmp, out);
  console.log(`tfjs-distill: built native OpenBLAS kernels (${out}); OpenBLAS is loaded at run time`);
} catch (error) {
  skip(String(error?.message ?? error).split('\n')[0]);
}
