import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import tf from '../tf.cjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DistillError, messageOf } from '../errors.js';
import { useJavascriptLoops } from './thread-loops.js';
import type { KernelChoice } from './kernel-choice.js';

/**
 * Which tfjs backend the workers run:
 * - `tensorflow`: native TensorFlow through the optional `@tensorflow/tfjs-node`;
 * - `wasm`: `@tensorflow/tfjs-backend-wasm`, one thread per worker (the workers are the parallelism);
 * - `cpu`: plain JavaScript, slow, always available;
 * - `auto`: the first of tensorflow, wasm, cpu that loads in every worker.
 */
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
/** Every backend choice, for checks and help. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** A backend that actually runs: a {@link BackendChoice} other than `auto`. */
export type BackendName = Exclude<BackendChoice, 'auto'>;

/** The order `auto` tries. */
const BACKEND_PREFERENCE: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export function backendCandidates(choice: BackendChoice): BackendName[] {
  return choice === 'auto' ? [...BACKEND_PREFERENCE] : [choice];
}

/** What loading a backend in one thread gave. */
export interface BackendInit {
  backend: BackendName;
  /** Why each preferred backend before it failed to load. */
  failures: Partial<Record<BackendName, string>>;
  /** Kernels tfjs-distill added to the backend, described. */
  patches: string[];
  /**
   * Which matMul and conv kernels ran: on wasm, `openblas` (tfjs-distill's native addon) or `wasm` (the
   * backend's own); on another backend, that backend's name (its own kernels).
   */
  kernels: KernelsUsed;
  /** On wasm, the library the openblas kernels use, or why `auto` fell back to the wasm kernels. */
  kernelNotice?: string;
}

/** The matMul and conv kernels a backend ran with: `openblas` or `wasm` on wasm, else the backend's name. */
export type KernelsUsed = 'openblas' | 'wasm' | 'tensorflow' | 'cpu';

// The variable keeps TypeScript from resolving a package that may be absent (it is optional).
const TFJS_NODE = '@tensorflow/tfjs-node';

/**
 * Throws, before tfjs-node's JavaScript is imported (which alone takes a thread a good while), when the
 * package is installed without its native addon: its install downloads libtensorflow, and where that failed
 * every thread of every pool would load it only to fail. Not installed at all: the import says so.
 */
function checkTfjsNodeAddon(): void {
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve(`${TFJS_NODE}/package.json`));
  } catch {
    return;
  }
  const lib = join(root, 'lib');
  const built = existsSync(lib) && readdirSync(lib).some((folder) => existsSync(join(lib, folder, 'tfjs_binding.node')));
  if (!built) {
    throw new Error(
      `${TFJS_NODE} is installed without its native addon (no ${lib}/napi-v*/tfjs_binding.node); ` +
        `run 'npm rebuild ${TFJS_NODE}' where its install can download libtensorflow`,
    );
  }
}

async function load(name: BackendName): Promise<string[]> {
  if (name === 'tensorflow') {
    checkTfjsNodeAddon();
    await import(TFJS_NODE);
    return [];
  }
  if (name === 'wasm') {
    await import('../tf-backend-wasm.cjs');
    const { registerMissingWasmKernels, replaceWasmKernels } = await import('./wasm-kernels.js');
    return [...registerMissingWasmKernels(), ...replaceWasmKernels()];
  }
  return [];
}

/**
 * Loads and activates the first backend of `candidates` that works in this thread; on wasm, with the
 * matMul and conv kernels `kernels` selects (a DistillError when `openblas` is asked for and cannot load),
 * OpenBLAS on `blasThreads` threads (process-wide; other kernels ignore it).
 */
export async function initBackend(candidates: BackendName[], kernels: KernelChoice = 'auto', blasThreads = 1): Promise<BackendInit> {
  const failures: BackendInit['failures'] = {};
  for (const backend of candidates) {
    let patches: string[];
    try {
      patches = await load(backend);
      if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') returned false`);
      await tf.ready();
    } catch (error) {
      failures[backend] = messageOf(error);
      continue;
    }
    if (backend !== 'wasm') {
      useJavascriptLoops(); // the openblas loops an earlier initBackend in this thread selected do not carry over
      return { backend, failures, patches, kernels: backend };
    }
    const { selectWasmKernels } = await import('./kernel-choice.js');
    const selection = selectWasmKernels(kernels, tf.backend() as BackendWasm, blasThreads);
    return { backend, failures, patches, kernels: selection.kernels, kernelNotice: selection.notice };
  }
  const reasons = Object.entries(failures)
    .map(([name, why]) => `${name}: ${why}`)
    .join('; ');
  throw new DistillError(`none of the backends [${candidates}] could be loaded (${reasons}); ${backendHint(candidates)}`, ['backend']);
}

function backendHint(candidates: BackendName[]): string {
  return candidates.includes('tensorflow') && candidates.length === 1
    ? "install @tensorflow/tfjs-node (its install downloads libtensorflow) or set backend 'wasm'"
    : "try backend 'cpu'";
}
