import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset, StockArtifacts } from '../dist/index.js';
import { buildModel, loadMnist, measureLatency, takeRows } from '../dist/index.js';

const DIST = new URL('../dist', import.meta.url).href;

/** A model's artifacts as stock tfjs saves them, in memory. */
async function artifactsOf(model: tf.LayersModel): Promise<StockArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (given) => {
      saved = given;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return { topology: saved!.modelTopology as object, weightSpecs: saved!.weightSpecs!, weights: saved!.weightData as ArrayBuffer };
}

describe('measureLatency', () => {
  let artifacts: StockArtifacts;
  let test: Dataset;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const student = buildModel('mlp:8', { inputShape: [28, 28], numClasses: 10, seed: 1 });
    artifacts = await artifactsOf(student);
    student.dispose();
    test = takeRows((await loadMnist()).test, 40);
  });

  it('runs in a thread of its own: this thread stays on its backend and builds models meanwhile', async () => {
    // A concurrent sweep builds one trial's models while another trial's student is timed on wasm.
    const pending = measureLatency(artifacts, test, { backend: 'wasm', batch1Repeats: 20, batch256Repeats: 3 });
    let settled = false;
    void pending.finally(() => (settled = true));
    const backends = new Set<string>();
    let built = 0;
    while (!settled) {
      backends.add(tf.getBackend());
      const model = buildModel('mlp:4', { inputShape: [4], numClasses: 2, seed: built });
      tf.tidy(() => (model.predict(tf.ones([1, 4])) as tf.Tensor).dataSync());
      model.dispose();
      built++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const measured = await pending;
    expect(measured.backend).toBe('wasm');
    expect(measured.batch1Ms).toBeGreaterThan(0);
    expect(measured.repeats).toEqual({ batch1: 20, batch256: 3 });
    expect([...backends]).toEqual(['cpu']);
    expect(built).toBeGreaterThan(1);
  });

  it('keeps its thread: a failed request is one error, and the next request, on another backend, is answered', async () => {
    await expect(measureLatency(artifacts, test, { backend: 'no-such-backend', batch1Repeats: 2, batch256Repeats: 1 })).rejects.toThrow(
      /^cannot measure latency on the no-such-backend backend: /,
    );
    const [cpu, wasm] = await Promise.all([
      measureLatency(artifacts, test, { backend: 'cpu', batch1Repeats: 3, batch256Repeats: 1 }),
      measureLatency(artifacts, test, { backend: 'wasm', batch1Repeats: 3, batch256Repeats: 1 }),
    ]);
    expect([cpu.backend, wasm.backend]).toEqual(['cpu', 'wasm']);
  });

  it('a process that measures and returns exits on its own: the idle thread does not hold it', () => {
    const script = `
      import { buildModel, measureLatency, loadMnist, takeRows, saveModel } from '${DIST}/index.js';
      import { readStockArtifacts } from '${DIST}/models/variant-check.js';
      import { mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const dir = join(mkdtempSync(join(tmpdir(), 'latency-exit-')), 'model');
      await saveModel(buildModel('mlp:4', { inputShape: [28, 28], numClasses: 10, seed: 2 }), dir);
      const test = takeRows((await loadMnist()).test, 8);
      const measured = await measureLatency(await readStockArtifacts(dir), test, { backend: 'cpu', batch1Repeats: 2, batch256Repeats: 1 });
      console.log('measured on ' + measured.backend);
    `;
    const file = join(mkdtempSync(join(tmpdir(), 'latency-exit-')), 'measure.mjs');
    writeFileSync(file, script);
    const child = spawnSync(process.execPath, [file], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.signal, 'the process had to be killed: something kept it alive').toBeNull();
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout).toContain('measured on cpu');
  });
});
