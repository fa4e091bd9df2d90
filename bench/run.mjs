// `npm run bench [-- --quick] [-- --workers 1,2,4,8,16] [-- --rounds N]`: tfjs-distill's labelling and data-parallel KD
// training at each worker count W (1 to the core count by default), with each kernel setting the build
// offers (openblas and wasm when the native kernels are there, else wasm), next to two references on the
// same job in the same run: tfjs's own single-thread model.fit with a KD loss (stock wasm, and with each of
// tfjs-distill's kernel sets registered: what the kernels alone give), and PyTorch CPU at each thread
// count (when /usr/bin/python3 has torch), the MLP and the CNN. Also the machine's own ceilings: a
// CPU-bound JS loop in W threads, which shows how much the cores are shared with other work, and
// OpenBLAS's single-thread sgemm on each GEMM shape of the training steps (bench/gemm-floor.mjs), which
// gives each training row the time its step's GEMMs alone would take (the GEMM floor).
// ONNX labelling (when torch can export the CNN and onnxruntime-node loads): the CNN's layer shapes
// exported from PyTorch (bench/export_cnn_onnx.py) and labelled by onnxruntime-node sessions in the pool
// at each W (bench/measure.mjs --onnx), next to onnxruntime-node alone in a plain loop on the main thread
// (bench/onnx-reference.mjs): one session on 1 thread (the reference the pool is held to) and one on
// every core (intraOpNumThreads = cores).
// Tfjs teachers on onnxruntime (when onnxruntime-node loads): the dense and CNN teachers' graphs exported to
// ONNX in JS and labelled in the pool, as teacherRuntime 'auto' runs them for users (kernels onnxruntime-export).
// Every measurement is repeated in rounds (3 by default, 1 with --quick), each round running every W and
// every reference once, so that a stretch of contention from other tenants hits all of them in turn rather
// than one W; each row is the round with the median samples/s, and the range over the rounds is kept.
// Writes bench/results/latest.json, then latest.md and latest.svg from it (bench/render.mjs regenerates
// those alone), and prints the tables.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { median, medianAcrossRounds, rowsPerRank, seriesKey } from './metrics.mjs';
import { describePytorch, pytorchCommand, pytorchSettings } from './pytorch-reference.mjs';
import { renderMarkdown, writeRenderings } from './render.mjs';
import { BENCH_SETTINGS } from './settings.mjs';

const run = promisify(execFile);
const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const { values: args } = parseArgs({ options: { quick: { type: 'boolean' }, workers: { type: 'string' }, rounds: { type: 'string' } } });
const quick = args.quick ?? false;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`bench: --rounds takes a whole number of at least 1; got '${args.rounds}'`);
  process.exit(1);
}
const settings = BENCH_SETTINGS[quick ? 'quick' : 'full'];
const cores = availableParallelism();
const workerCounts = args.workers
  ? args.workers.split(',').map(Number)
  : [...new Set([1, 2, 4, 8, 16, cores].filter((w) => w <= cores))].sort((a, b) => a - b);
if (!workerCounts.every((w) => Number.isInteger(w) && w >= 1)) {
  console.error(`bench: --workers takes worker counts like 1,2,4; got '${args.workers}'`);
  process.exit(1);
}
const scratch = await mkdtemp(join(tmpdir(), 'tfjs-distill-bench-'));
const log = (line) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Runs a measuring script in a process of its own and returns the JSON it wrote. */
async function measure(command, commandArgs, name, env = process.env) {
  const out = join(scratch, `${name}.json`);
  log(`${name} ...`);
  await run(command, [...commandArgs, '--out', out], { maxBuffer: 64 * 2 ** 20, env });
  return JSON.parse(await readFile(out, 'utf8'));
}
/** A failed measuring process's error: the first line of its stderr that names an error, else its last line. */
function whyFailed(error) {
  const lines = String(error.stderr || error.message)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /^(\w+\.)*\w*(Error|Exception)\b/.test(l)) ?? lines.at(-1) ?? 'no message';
}
let round = 0;
const measureTfjs = (workers, kernels, threads = 1) =>
  measure(
    process.execPath,
    [
      ...['--expose-gc', here('./measure.mjs'), '--workers', String(workers), '--kernels', kernels, '--threads', String(threads)],
      ...(quick ? ['--quick'] : []),
    ],
    `tfjs-W${workers}-${kernels}-${threads}t-round${round + 1}`,
  );

/** The machine's ceiling: a CPU-bound JS loop in W plain threads, loops per second. */
async function cpuLoops(workers) {
  const loop = `let x = 0; for (let i = 0; i < ${quick ? 3e7 : 1e8}; i++) x += Math.sqrt(i); require('node:worker_threads').parentPort.postMessage(x);`;
  const started = performance.now();
  await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise((resolve, reject) => {
          const worker = new Worker(loop, { eval: true });
          worker.once('message', () => worker.terminate().then(resolve));
          worker.once('error', reject);
        }),
    ),
  );
  return workers / ((performance.now() - started) / 1000);
}

/** The ceiling at each W, as a speed-up over its smallest W: measured before and after the rest, as contention varies. */
async function ceilingNow(when) {
  const rows = [];
  for (const workers of workerCounts) rows.push({ when, workers, loopsPerSec: median([await cpuLoops(workers), await cpuLoops(workers)]) });
  return rows.map((r) => ({ ...r, speedup: (r.loopsPerSec / rows[0].loopsPerSec) * rows[0].workers }));
}

const loadAverage = loadavg();
const ceiling = await ceilingNow('start');
const measuredRows = []; // every round's rows; merged into `results` below
const failures = [];
/** Measures one W with one kernel setting (`onnxruntime`: the ONNX teacher's labelling); a failure is reported and the bench goes on. */
async function measureSafely(workers, kernels, threads = 1) {
  try {
    const measured = kernels === 'onnxruntime' ? await measureOnnx(workers) : await measureTfjs(workers, kernels, threads);
    measuredRows.push(...measured.results);
    return measured;
  } catch (error) {
    failures.push(`W=${workers} ${kernels}: ${whyFailed(error)}`);
    log(`failed: ${failures.at(-1)}`);
    return undefined;
  }
}
// The first run asks for auto: if the workers ran openblas, every W runs with both kernel sets;
// otherwise (no OpenBLAS here) with the wasm set alone.
let kernelsList;
/** One round of tfjs-distill: every W with every kernel set. */
async function tfjsRound() {
  for (const workers of workerCounts) {
    if (kernelsList === undefined) {
      const first = await measureSafely(workers, 'auto');
      if (first === undefined) continue;
      kernelsList = first.kernels === 'openblas' ? ['openblas', 'wasm'] : [first.kernels];
      for (const kernels of kernelsList.slice(1)) await measureSafely(workers, kernels);
    } else {
      for (const kernels of kernelsList) await measureSafely(workers, kernels);
    }
    // One worker whose OpenBLAS calls use every core (threadsPerWorker), PyTorch's way of using them.
    if (workers === 1 && cores > 1 && kernelsList?.includes('openblas')) await measureSafely(1, 'openblas', cores);
    if (onnxFile) await measureSafely(workers, 'onnxruntime');
    if (ortLoads) await measureSafely(workers, 'onnxruntime-export');
  }
}

// onnxruntime-node, loaded once here: the ONNX teacher's rows need it, and a tfjs teacher labels on it by
// default when it loads (teacherRuntime 'auto'), which the bench measures too, as its own kernels setting.
const ort = await import('onnxruntime-node').catch((error) => {
  log(`onnxruntime-node cannot be loaded (${String(error.message).split('\n')[0]}); the ONNX rows are left out`);
  return undefined;
});
const ortLoads = ort !== undefined;
const hasTorch = await run('/usr/bin/python3', ['-c', 'import torch']).then(
  () => true,
  () => false,
);
if (!hasTorch) log('PyTorch: /usr/bin/python3 cannot import torch; its reference is left out');

// The ONNX rows need the CNN exported (PyTorch) and onnxruntime-node; without either they are left out.
let onnx; // { params, torch, onnxruntime }
const onnxFile = await exportOnnxCnn();
async function exportOnnxCnn() {
  if (!hasTorch) {
    log('ONNX: /usr/bin/python3 cannot import torch to export the CNN; the ONNX labelling rows are left out');
    return undefined;
  }
  if (!ortLoads) return undefined;
  const file = join(scratch, 'cnn.onnx');
  const filters = settings.cnnModel.replace(/^cnn:/, '');
  try {
    const { stdout } = await run('/usr/bin/python3', [here('./export_cnn_onnx.py'), '--out', file, '--filters', filters]);
    const exported = JSON.parse(stdout.trim().split('\n').at(-1));
    onnx = { params: exported.params, torch: exported.torch, onnxruntime: (ort.env ?? ort.default?.env)?.versions?.node ?? null };
    return file;
  } catch (error) {
    log(`ONNX: exporting ${settings.cnnModel} failed (${whyFailed(error)}); the ONNX rows are left out`);
    return undefined;
  }
}
const measureOnnx = (workers) =>
  measure(
    process.execPath,
    ['--expose-gc', here('./measure.mjs'), '--workers', String(workers), '--onnx', onnxFile, ...(quick ? ['--quick'] : [])],
    `onnx-W${workers}-round${round + 1}`,
  );
const onnxRuns = []; // every round's single-thread and all-cores onnxruntime references
/** One round of the ONNX references: one session in a plain loop, on 1 thread, then on every core. */
async function onnxRound() {
  for (const threads of onnxFile ? [...new Set([1, cores])] : []) {
    try {
      const args = [here('./onnx-reference.mjs'), '--onnx', onnxFile, '--threads', String(threads), ...(quick ? ['--quick'] : [])];
      onnxRuns.push(await measure(process.execPath, args, `onnxruntime-${threads}-threads-round${round + 1}`));
    } catch (error) {
      failures.push(`onnxruntime reference, ${threads} threads: ${whyFailed(error)}`);
      log(`failed: ${failures.at(-1)}`);
    }
  }
}
let pytorch; // { torch, blas }
const pytorchRuns = []; // every round's { threads, blasThreads, waitPolicy, config, train, label }
/** One round of PyTorch: each setting of {@link pytorchSettings} in a process of its own. */
async function pytorchRound() {
  for (const setting of hasTorch ? pytorchSettings(cores) : []) {
    const { threads, blasThreads, waitPolicy } = setting;
    const name = `pytorch-${threads}-${blasThreads ?? 'default'}-${waitPolicy ?? 'default'}-round${round + 1}`;
    try {
      const { command, args, env } = pytorchCommand(setting, settings);
      const measured = await measure(command, args, name, env);
      pytorch = { torch: measured.torch, blas: measured.blas };
      const config = describePytorch({ ...setting, threads: measured.result.threads });
      pytorchRuns.push({ ...measured.result, blasThreads, waitPolicy, config });
    } catch (error) {
      log(`PyTorch reference (${describePytorch(setting)}) failed: ${String(error.message).split('\n')[0]}`);
    }
  }
}

const fitRuns = []; // every round's model.fit references, stock and with each kernel set
/**
 * One round of tfjs's model.fit: stock, then with each kernel set the tfjs-distill rows ran, each in a
 * process of its own (the stock kernels cannot be restored in one). The stock fit is slow, so it is
 * timed fewer times a round (settings.fitStockIterations).
 */
async function fitRound() {
  for (const kernels of ['stock', ...(kernelsList ?? [])]) {
    const iterations = kernels === 'stock' ? settings.fitStockIterations : settings.iterations;
    const args = [here('./fit-reference.mjs'), '--kernels', kernels, '--iterations', String(iterations), ...(quick ? ['--quick'] : [])];
    try {
      fitRuns.push(await measure(process.execPath, args, `tfjs-fit-${kernels}-round${round + 1}`));
    } catch (error) {
      failures.push(`tfjs model.fit (${kernels}): ${whyFailed(error)}`);
      log(`failed: ${failures.at(-1)}`);
    }
  }
}
let gemmFloor; // { library, models: { spec: { layers } } } and, below, the GEMM rates merged across rounds
const gemmRuns = []; // every round's { key, ms, ... } per GEMM shape
/** One round of OpenBLAS's single-thread sgemm on every GEMM shape of both models' training steps at each per-worker batch. */
async function gemmRound() {
  const batches = [...new Set([settings.batchSize, ...workerCounts.map((w) => rowsPerRank(settings.batchSize, w))])];
  const args = [here('./gemm-floor.mjs'), '--models', `${settings.denseModel},${settings.cnnModel}`, '--batches', batches.join(',')];
  try {
    const measured = await measure(process.execPath, [...args, ...(quick ? ['--quick'] : [])], `gemm-floor-round${round + 1}`);
    if (measured.error) log(`GEMM floor: ${measured.error}; left out`);
    gemmFloor = { library: measured.library, models: measured.models };
    gemmRuns.push(...measured.rates);
  } catch (error) {
    failures.push(`GEMM floor: ${whyFailed(error)}`);
    log(`failed: ${failures.at(-1)}`);
  }
}
for (round = 0; round < rounds; round++) {
  log(`round ${round + 1} of ${rounds}`);
  await tfjsRound();
  await fitRound();
  await gemmRound();
  await onnxRound();
  await pytorchRound();
}
// The headline: KD training as report.json shows it for CLI runs, against PyTorch's best setting, in rounds
// of its own (bench/cli-throughput.mjs).
let headline;
if (hasTorch) {
  try {
    const cliArgs = [here('./cli-throughput.mjs'), '--rounds', String(rounds), '--workers', [...new Set([1, cores])].join(',')];
    headline = await measure(process.execPath, cliArgs, 'cli-throughput');
  } catch (error) {
    failures.push(`CLI headline: ${whyFailed(error)}`);
    log(`failed: ${failures.at(-1)}`);
  }
}
const results = medianAcrossRounds(measuredRows, (r) => `${seriesKey(r)} ${r.workers}`);
if (results.length === 0) {
  console.error(`bench: no tfjs-distill measurement succeeded:\n${failures.join('\n')}`);
  process.exit(1);
}
const references = medianAcrossRounds(fitRuns, (r) => r.kernels).map((ref) => ({ ...ref, gflops: gflopsOf(ref) }));
for (const ref of medianAcrossRounds(onnxRuns, (r) => String(r.threads))) references.push({ ...ref, gflops: gflopsOf(ref) });
for (const [arch, model] of pytorch
  ? [
      ['mlp', settings.denseModel],
      ['cnn', settings.cnnModel],
    ]
  : []) {
  for (const phase of ['train', 'label']) {
    const rows = medianAcrossRounds(
      pytorchRuns.map((r) => ({ threads: r.threads, config: r.config, default: r.blasThreads === null, samplesPerSec: r[arch][phase] })),
      (r) => r.config,
    );
    const best = Math.max(...rows.map((r) => r.samplesPerSec));
    for (const r of rows) {
      const entry = { name: 'pytorch-cpu', phase, model, ...r, best: r.samplesPerSec === best };
      references.push({ ...entry, gflops: gflopsOf(entry) });
    }
  }
}
// Each GEMM shape's median time over the rounds, with its range.
const gemmByKey = new Map();
for (const r of gemmRuns) gemmByKey.set(r.key, [...(gemmByKey.get(r.key) ?? []), r]);
const gemmRates = [...gemmByKey.values()].map((runs) => {
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
  const middle = runs.find((r) => r.ms === median(ms));
  return { ...middle, rounds: runs.length, msRange: [ms[0], ms.at(-1)] };
});

/** GFLOP/s of a reference, by the FLOPs per sample the tfjs-distill rows of the same phase and model count. */
function gflopsOf(ref) {
  const ours = results.find((r) => r.phase === ref.phase && r.model === ref.model && !r.rowsPerWorker);
  return ours ? (ref.samplesPerSec * ours.gflops) / ours.samplesPerSec : null;
}

const report = {
  machine: {
    cpus: cores,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    backend: 'wasm',
    kernels: results.find((r) => r.kernels === 'openblas') ? 'openblas' : 'wasm',
    kernelsMeasured: [...new Set(results.map((r) => r.kernels).filter((k) => k !== 'onnxruntime'))],
    loadAverage,
    ceiling,
  },
  failures,
  settings: {
    quick,
    rounds,
    ...settings,
    workerCounts,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    date: new Date().toISOString(),
  },
  headline,
  results,
  references,
  pytorch: pytorch && { torch: pytorch.torch, blas: pytorch.blas },
  gemmFloor: gemmFloor && gemmRates.length > 0 ? { ...gemmFloor, rates: gemmRates } : undefined,
  onnx:
    onnx && results.some((r) => r.kernels === 'onnxruntime')
      ? { model: settings.cnnModel, exportedBy: 'bench/export_cnn_onnx.py', ...onnx }
      : undefined,
};
report.machine.ceiling.push(...(await ceilingNow('end')));
const jsonPath = here('./results/latest.json');
await writeFile(`${jsonPath}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
await rename(`${jsonPath}.tmp`, jsonPath);
await writeRenderings(report, jsonPath);
await rm(scratch, { recursive: true, force: true });
console.log(renderMarkdown(report));
if (failures.length > 0) console.log(`failed measurements (left out):\n${failures.join('\n')}`);
console.log('wrote bench/results/latest.json, latest.md and latest.svg');
