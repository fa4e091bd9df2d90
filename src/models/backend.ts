import * as tf from '@tensorflow/tfjs';
import { DistillError, messageOf } from '../errors.js';

/**
 * Which tfjs backend the workers run:
 * - `tensorflow`: native TensorFlow through the optional `@tensorflow/tfjs-node`;
 * - `wasm`: `@tensorflow/tfjs-backend-wasm`, one thread per worker (the workers are the parallelism);
 * - `cpu`: plain JavaScript, slow, always available;
 * - `auto`: the first of tensorflow, wasm, cpu that loads in every worker.
 */
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

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
}

// The variable keeps TypeScript from resolving a package that may be absent (it is optional).
const TFJS_NODE = '@tensorflow/tfjs-node';

async function load(name: BackendName): Promise<string[]> {
  if (name === 'tensorflow') {
    await import(TFJS_NODE);
    return [];
  }
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    const { registerMissingWasmKernels } = await import('./wasm-kernels.js');
    return registerMissingWasmKernels();
  }
  return [];
}

/** Loads and activates the first backend of `candidates` that works in this thread. */
export async function initBackend(candidates: BackendName[]): Promise<BackendInit> {
  const failures: BackendInit['failures'] = {};
  for (const backend of candidates) {
    try {
      const patches = await load(backend);
      if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') returned false`);
      await tf.ready();
      return { backend, failures, patches };
    } catch (error) {
      failures[backend] = messageOf(error);
    }
  }
  const reasons = Object.entries(failures)
    .map(([name, why]) => `${name}: ${why}`)
    .join('; ');
  throw new DistillError(`no backend of [${candidates}] could be loaded (${reasons}); ${backendHint(candidates)}`);
}

function backendHint(candidates: BackendName[]): string {
  return candidates.includes('tensorflow') && candidates.length === 1
    ? 'install @tensorflow/tfjs-node (its install downloads libtensorflow) or use --backend wasm'
    : 'try --backend cpu';
}
