import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript bench modules, no type declarations
import {
  averagingShares,
  flopsPerSample,
  forwardFlopsPerSample,
  gemmFloor,
  gemmKey,
  median,
  medianAcrossRounds,
  rssMBPerWorker,
  stepGemms,
  withScaling,
} from '../bench/metrics.mjs';
// @ts-expect-error: likewise
import { renderMarkdown } from '../bench/render.mjs';
import { renderSvg } from '../bench/render-svg.mjs';
import { fitDecomposition, onnxComparison, stepVsFloor, targetMet, targets } from '../bench/report-ratios.mjs';

/** 784-1024-1024-10, as bench/model-layers.mjs describes it. */
const denseLayers = [
  [784, 1024],
  [1024, 1024],
  [1024, 10],
].map(([inputs, units]) => ({ kind: 'dense', inputs, units }));
/** cnn:16,32 on 28x28x1: two 3x3 same convs (each followed by a 2x2 pool), dense 1568-128 and 128-10. */
const cnnLayers = [
  { kind: 'conv2d', outHeight: 28, outWidth: 28, filters: 16, kernelHeight: 3, kernelWidth: 3, inChannels: 1 },
  { kind: 'conv2d', outHeight: 14, outWidth: 14, filters: 32, kernelHeight: 3, kernelWidth: 3, inChannels: 16 },
  { kind: 'dense', inputs: 1568, units: 128 },
  { kind: 'dense', inputs: 128, units: 10 },
];
/** GEMM times for the fixture: every shape at 100 GFLOP/s (2mnk / 1e8 ms), so a floor is the step's FLOPs / 1e8. */
const gemmRates = [128, 256].flatMap((batch) =>
  stepGemms(denseLayers, batch, 'train').map((g: { flops: number }) => ({ ...g, key: gemmKey(g), ms: g.flops / 1e8, gflops: 100 })),
);

const row = (phase: string, model: string, workers: number, samplesPerSec: number, extra = {}) => ({
  phase,
  model,
  params: 1_863_690,
  kernels: 'wasm',
  workers,
  samplesPerSec,
  gflops: samplesPerSec * 0.00372,
  allreduceShare: null,
  rssMBPerWorker: 40,
  ...extra,
});

// A small report in latest.json's shape: two worker counts, both phases, the ONNX teacher's labelling, every reference.
const fixture = {
  machine: {
    cpus: 2,
    node: 'v20.20.2',
    backend: 'wasm',
    kernels: 'wasm',
    kernelsMeasured: ['wasm'],
    ceiling: [
      { workers: 1, speedup: 1 },
      { workers: 2, speedup: 1.9 },
    ],
  },
  settings: { denseModel: 'mlp:1024,1024', cnnModel: 'cnn:16,32', batchSize: 256, rounds: 3 },
  results: [
    row('label', 'mlp:1024,1024', 1, 2000),
    row('label', 'mlp:1024,1024', 2, 3900),
    row('label', 'cnn:16,32', 1, 2100, { params: 206_922 }),
    row('label', 'cnn:16,32', 2, 3000, { params: 206_922 }),
    // The same CNN's layer shapes exported to ONNX, labelled by onnxruntime sessions in the pool.
    row('label', 'cnn:16,32', 1, 9000, { params: 206_922, kernels: 'onnxruntime' }),
    row('label', 'cnn:16,32', 2, 18_500, { params: 206_922, kernels: 'onnxruntime' }),
    row('train', 'mlp:1024,1024', 1, 80, { gflops: 0.9, batchSize: 256, allreduceShare: 0.005, waitShare: 0 }),
    row('train', 'cnn:16,32', 1, 500, { params: 206_922, gflops: 3.5, batchSize: 256, allreduceShare: 0.001, waitShare: 0 }),
    row('train', 'cnn:16,32', 2, 900, { params: 206_922, gflops: 6.3, batchSize: 256, allreduceShare: 0.01, waitShare: 0.005 }),
    row('train', 'mlp:1024,1024', 2, 150, {
      gflops: 1.68,
      batchSize: 256,
      allreduceShare: 0.03,
      waitShare: 0.01,
      stepMs: { gradient: 1620.4, averaging: 50.04, waiting: 16.66, update: 150 },
      firstStepMs: 2500.2,
      rounds: 3,
      samplesPerSecRange: [120, 1510],
    }),
    // The rows-per-worker series: W=1 is the same run as above, W=2 trains a global batch of 512.
    row('train', 'mlp:1024,1024', 1, 80, { gflops: 0.9, batchSize: 256, rowsPerWorker: 256, allreduceShare: 0.005, waitShare: 0 }),
    row('train', 'mlp:1024,1024', 2, 152, { gflops: 1.7, batchSize: 512, rowsPerWorker: 256, allreduceShare: 0.02, waitShare: 0.01 }),
  ],
  references: [
    {
      name: 'tfjs model.fit, 1 thread',
      phase: 'train',
      model: 'mlp:1024,1024',
      threads: 1,
      kernels: 'stock',
      fit: true,
      samplesPerSec: 10,
      gflops: 0.1,
    },
    {
      name: "tfjs model.fit with tfjs-distill's wasm kernels, 1 thread",
      phase: 'train',
      model: 'mlp:1024,1024',
      threads: 1,
      kernels: 'wasm',
      fit: true,
      samplesPerSec: 64,
      gflops: 0.72,
      rounds: 3,
      samplesPerSecRange: [60, 70],
    },
    { name: 'pytorch-cpu', phase: 'train', model: 'cnn:16,32', threads: 1, samplesPerSec: 600, gflops: 4.2, best: true },
    { name: 'pytorch-cpu', phase: 'train', model: 'mlp:1024,1024', threads: 1, samplesPerSec: 600, gflops: 6.7, best: false },
    { name: 'pytorch-cpu', phase: 'train', model: 'mlp:1024,1024', threads: 2, samplesPerSec: 1000, gflops: 11.2, best: true },
    {
      name: 'onnxruntime-node, plain loop, 1 thread',
      phase: 'label',
      model: 'cnn:16,32',
      kernels: 'onnxruntime',
      threads: 1,
      batchSize: 256,
      samplesPerSec: 10_000,
      gflops: 24.4,
      rounds: 3,
      samplesPerSecRange: [9500, 10_500],
    },
    {
      name: 'onnxruntime-node, plain loop, intraOpNumThreads 2',
      phase: 'label',
      model: 'cnn:16,32',
      kernels: 'onnxruntime',
      threads: 2,
      batchSize: 256,
      samplesPerSec: 12_000,
      gflops: 29.2,
    },
  ],
  pytorch: { torch: '1.13.0', blas: { built: 'generic', mapped: ['/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3'] } },
  onnx: { model: 'cnn:16,32', exportedBy: 'bench/export_cnn_onnx.py', params: 206_922, torch: '1.13.0', onnxruntime: '1.30.0' },
  gemmFloor: { library: 'libopenblas.so.0', models: { 'mlp:1024,1024': { layers: denseLayers } }, rates: gemmRates },
};

/** The fixture without the ONNX rows, as a run without PyTorch or onnxruntime-node writes it. */
const withoutOnnx = {
  ...fixture,
  results: fixture.results.filter((r) => r.kernels !== 'onnxruntime'),
  references: fixture.references.filter((r) => r.kernels !== 'onnxruntime'),
  onnx: undefined,
};

describe('bench arithmetic', () => {
  it('counts forward FLOPs of dense and conv layers, 2 per multiply-add', () => {
    // 784-1024-1024-10: 2 * (784*1024 + 1024*1024 + 1024*10).
    expect(forwardFlopsPerSample(denseLayers)).toBe(2 * 1_861_632);
    expect(forwardFlopsPerSample([cnnLayers[0]])).toBe(2 * 28 * 28 * 16 * 9);
  });

  it('counts a training step as computed: forward, every weight gradient, input gradients but the first layer', () => {
    // Dense: 3 forwards less the first layer's input gradient, 2 x 784 x 1024: about 2.57 forwards, not 3.
    expect(flopsPerSample(denseLayers, 'train')).toBe(3 * 2 * 1_861_632 - 2 * 784 * 1024);
    expect(flopsPerSample(denseLayers, 'train') / flopsPerSample(denseLayers, 'label')).toBeCloseTo(2.569, 3);
    // CNN: the first conv's input gradient (2 x 784 pixels x 9 x 16) is the one left out.
    const cnnForward = 2 * (784 * 9 * 16 + 196 * 144 * 32 + 1568 * 128 + 128 * 10);
    expect(flopsPerSample(cnnLayers, 'label')).toBe(cnnForward);
    expect(flopsPerSample(cnnLayers, 'train')).toBe(3 * cnnForward - 2 * 784 * 9 * 16);
    // The GEMMs themselves: the second conv's im2col products at a batch of 128.
    const conv2 = stepGemms(cnnLayers, 128, 'train').filter((g: { layer: number }) => g.layer === 1);
    expect(conv2.map((g: object) => gemmKey(g))).toEqual(['25088x32x144', '144x32x25088 tA', '25088x144x32 tB']);
    expect(stepGemms(cnnLayers, 128, 'label')).toHaveLength(4);
  });

  it("adds up a step's GEMM floor from the time of each shape, and gives none when a shape is missing", () => {
    const ms = new Map(gemmRates.map((g: { key: string; ms: number }) => [g.key, g.ms]));
    const floor = gemmFloor(denseLayers, 128, (g: object) => ms.get(gemmKey(g)));
    expect(floor).toBeCloseTo((flopsPerSample(denseLayers, 'train') * 128) / 1e8, 9);
    expect(gemmFloor(denseLayers, 64, (g: object) => ms.get(gemmKey(g)))).toBeNull();
  });

  it('takes the averaging and waiting shares of a step', () => {
    const shares = averagingShares({ gradient: 7, averaging: 2, waiting: 1.5, update: 1 });
    expect(shares.averaging).toBeCloseTo(0.2, 10);
    // The wait is part of the averaging, so it does not add to the step's total.
    expect(shares.waiting).toBeCloseTo(0.15, 10);
    expect(averagingShares({ gradient: 0, averaging: 0, waiting: 0, update: 0 })).toEqual({ averaging: 0, waiting: 0 });
  });

  it('divides the RSS a pool adds by its worker count, in MB', () => {
    expect(rssMBPerWorker(100 * 2 ** 20, 300 * 2 ** 20, 4)).toBe(50);
    expect(rssMBPerWorker(300 * 2 ** 20, 200 * 2 ** 20, 2)).toBe(0); // a GC between the samples
  });

  it("keeps, of each measurement's rounds, the whole row with the median samples/s, and the range", () => {
    const rounds = [
      row('train', 'm', 2, 300, { allreduceShare: 0.3 }),
      row('train', 'm', 1, 100),
      row('train', 'm', 2, 100, { allreduceShare: 0.1 }),
      row('train', 'm', 2, 200, { allreduceShare: 0.2 }),
    ];
    const merged = medianAcrossRounds(rounds, (r: { workers: number }) => String(r.workers));
    expect(merged).toHaveLength(2);
    const two = merged.find((r: { workers: number }) => r.workers === 2);
    expect(two).toMatchObject({ samplesPerSec: 200, allreduceShare: 0.2, rounds: 3, samplesPerSecRange: [100, 300] });
    expect(merged.find((r: { workers: number }) => r.workers === 1)).toMatchObject({
      samplesPerSec: 100,
      rounds: 1,
      samplesPerSecRange: [100, 100],
    });
  });

  it('takes the median and scales each series against its own W=1', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(() => median([])).toThrow(/no values/);
    const scaled = withScaling(fixture.results);
    const train2 = scaled.find(
      (r: { phase: string; model: string; workers: number; rowsPerWorker?: number }) =>
        r.phase === 'train' && r.model === 'mlp:1024,1024' && r.workers === 2 && !r.rowsPerWorker,
    );
    expect(train2.speedup).toBeCloseTo(1.875, 10);
    expect(train2.efficiency).toBeCloseTo(0.9375, 10);
    // The rows-per-worker series is scaled against its own W=1.
    const weak2 = scaled.find((r: { workers: number; rowsPerWorker?: number }) => r.workers === 2 && r.rowsPerWorker);
    expect(weak2.speedup).toBeCloseTo(1.9, 10);
    // A series measured from W=2 up is scaled to W=1 by its smallest W.
    expect(withScaling([row('label', 'm', 2, 100), row('label', 'm', 4, 200)]).map((r: { speedup: number }) => r.speedup)).toEqual([2, 4]);
  });
});

describe('bench renderings', () => {
  it('reads the targets off the report', () => {
    const byName = Object.fromEntries(targets(fixture).map((t: { name: string; value: number }) => [t.name, t.value]));
    expect(byName['labelling mlp:1024,1024 (wasm), W=2 vs W=1']).toBeCloseTo(1.95, 10);
    expect(byName['training mlp:1024,1024 (wasm), global batch 256, W=2 vs W=1']).toBeCloseTo(1.875, 10);
    expect(byName['training mlp:1024,1024 (wasm), 256 rows per worker, W=2 vs W=1']).toBeCloseTo(1.9, 10);
    expect(byName['gradient averaging share of step time, training at W=2']).toBe(0.03);
    expect(byName['of which waiting at the first barrier for the slower rank']).toBe(0.01);
    expect(byName['training samples/s, tfjs-distill on 2 cores (W=2, wasm) / PyTorch CPU (2 threads)']).toBeCloseTo(0.15, 10);
    expect(byName['training cnn:16,32 samples/s, tfjs-distill on 2 cores (W=2, wasm) / PyTorch CPU (1 thread)']).toBeCloseTo(1.5, 10);
    expect(byName['labelling cnn:16,32 rows/s, tfjs-distill on 2 cores (W=2, wasm) / onnxruntime-node, intraOpNumThreads 2']).toBeCloseTo(
      0.25,
      10,
    );
    expect(byName['training GFLOP/s / labelling GFLOP/s, mlp:1024,1024, W=1 (wasm)']).toBeCloseTo(0.9 / 7.44, 10);
    // The ONNX rows are held to onnxruntime alone, not to their own W=1.
    expect(byName['labelling onnx cnn:16,32, W=2 vs 0.9 x W x single-thread onnxruntime']).toBeCloseTo(18_500 / (0.9 * 2 * 10_000), 10);
    expect(Object.keys(byName).filter((name) => name.includes('onnxruntime)'))).toEqual([]);
  });

  it('gives each ratio its range over rounds, and meets a target only when the whole range does', () => {
    const byName = Object.fromEntries(targets(fixture).map((t: { name: string }) => [t.name, t]));
    // W=2 was measured in 3 rounds (120 to 1,510 samples/s), W=1 once (80): the speed-up spans 1.5x to 18.9x.
    const train = byName['training mlp:1024,1024 (wasm), global batch 256, W=2 vs W=1'];
    expect(train.range[0]).toBeCloseTo(1.5, 10);
    expect(train.range[1]).toBeCloseTo(18.875, 10);
    expect(targetMet(train)).toBe(false); // 1.88x >= 1.8x, but the range straddles the goal
    // Pool at W=2 (once) over W x the single-thread reference (9,500 to 10,500 over rounds), over 0.9.
    const onnx = byName['labelling onnx cnn:16,32, W=2 vs 0.9 x W x single-thread onnxruntime'];
    expect(onnx.value).toBeGreaterThan(1);
    expect(onnx.range[0]).toBeCloseTo(18_500 / (0.9 * 2 * 10_500), 10);
    expect(onnx.range[1]).toBeCloseTo(18_500 / (0.9 * 2 * 9500), 10);
    expect(targetMet(onnx)).toBe(false);
    // Measured once on both sides: no range, the value alone decides.
    expect(byName['labelling mlp:1024,1024 (wasm), W=2 vs W=1'].range).toBeNull();
    expect(targetMet(byName['labelling mlp:1024,1024 (wasm), W=2 vs W=1'])).toBe(true);
    expect(targetMet(byName['gradient averaging share of step time, training at W=2'])).toBe(true); // 3% <= 5%
    expect(targetMet(byName['of which waiting at the first barrier for the slower rank'])).toBeNull(); // no goal
    expect(byName['training samples/s, tfjs-distill on 2 cores (W=2, wasm) / PyTorch CPU (2 threads)'].target).toBe(1);
    expect(targetMet(byName['training cnn:16,32 samples/s, tfjs-distill on 2 cores (W=2, wasm) / PyTorch CPU (1 thread)'])).toBe(true); // 1.5x >= 1.2x
    expect(
      targetMet(byName['labelling cnn:16,32 rows/s, tfjs-distill on 2 cores (W=2, wasm) / onnxruntime-node, intraOpNumThreads 2']),
    ).toBe(false);
    expect(targetMet({ value: 1.2, range: [1.01, 1.3], target: 1 })).toBe(true);
    expect(targetMet({ value: 0.04, range: [0.03, 0.06], target: 0.05, atMost: true })).toBe(false);
    expect(targetMet({ value: null, target: 1 })).toBeNull();
  });

  it('compares the ONNX labelling at each W with onnxruntime alone and with the tfjs CNN', () => {
    const rows = onnxComparison(fixture);
    expect(rows.map((o: { row: { workers: number } }) => o.row.workers)).toEqual([1, 2]);
    expect(rows[1].share).toBeCloseTo(0.925, 10);
    expect(rows[1].shareRange[0]).toBeCloseTo(18_500 / 21_000, 10);
    expect(rows[1].tfjs.map((t: { samplesPerSec: number }) => t.samplesPerSec)).toEqual([3000]);
    expect(onnxComparison(withoutOnnx)).toEqual([]);
    const byName = Object.fromEntries(targets(withoutOnnx).map((t: { name: string; value: number }) => [t.name, t.value]));
    expect(byName['labelling onnx cnn:16,32, W=2 vs 0.9 x W x single-thread onnxruntime']).toBeNull();
  });

  it('holds every setting that uses all the cores to the PyTorch target: one worker on two BLAS threads too', () => {
    const oneOnTwo = row('train', 'mlp:1024,1024', 1, 700, {
      kernels: 'openblas, 2 BLAS threads',
      threads: 2,
      gflops: 7.8,
      batchSize: 256,
      allreduceShare: 0,
      waitShare: 0,
    });
    const twoOnOne = row('train', 'mlp:1024,1024', 2, 650, { kernels: 'openblas', batchSize: 256, allreduceShare: 0.03, waitShare: 0.01 });
    const report = { ...fixture, results: [...fixture.results, oneOnTwo, twoOnOne] };
    const byName = Object.fromEntries(targets(report).map((t: { name: string; value: number }) => [t.name, t.value]));
    // Each setting on every core has its row, fastest first; the wasm set, a fallback, drops out beside openblas.
    const oneOnTwoName = 'training samples/s, tfjs-distill on 2 cores (W=1, openblas, 2 BLAS threads) / PyTorch CPU (2 threads)';
    const twoOnOneName = 'training samples/s, tfjs-distill on 2 cores (W=2, openblas) / PyTorch CPU (2 threads)';
    expect(Object.keys(byName).filter((name) => name.startsWith('training samples/s'))).toEqual([oneOnTwoName, twoOnOneName]);
    expect(byName[oneOnTwoName]).toBeCloseTo(0.7, 10);
    expect(byName[twoOnOneName]).toBeCloseTo(0.65, 10);
    // The averaging share stays the one of the most workers: one worker exchanges nothing.
    expect(byName['gradient averaging share of step time, training at W=2']).toBe(0.03);
    // Its GEMMs on two threads: at best twice the one-thread rate.
    const floor = stepVsFloor(report, oneOnTwo);
    expect(floor.floorMs).toBeCloseTo((flopsPerSample(denseLayers, 'train') * 256) / 1e8 / 2, 9);
  });

  it("sets each training row against its GEMM floor, on one rank's rows", () => {
    const train = (workers: number, perWorker = false) =>
      fixture.results.find(
        (r: { phase: string; model: string; workers: number; rowsPerWorker?: number }) =>
          r.phase === 'train' && r.model === 'mlp:1024,1024' && r.workers === workers && !!r.rowsPerWorker === perWorker,
      );
    const perSample = flopsPerSample(denseLayers, 'train');
    const strong = stepVsFloor(fixture, train(2));
    expect(strong.floorMs).toBeCloseTo((perSample * 128) / 1e8, 9); // 256 rows split over 2 ranks
    expect(strong.stepMs).toBeCloseTo((256 / 150) * 1000, 9);
    expect(strong.ratio).toBeCloseTo(strong.stepMs / strong.floorMs, 9);
    const weak = stepVsFloor(fixture, train(2, true));
    expect(weak.floorMs).toBeCloseTo((perSample * 256) / 1e8, 9); // 512 rows, 256 per rank
    // No rates for the CNN's shapes, no layers without a gemmFloor: no floor rather than a wrong one.
    const cnn = fixture.results.find((r: { phase: string; model: string }) => r.phase === 'train' && r.model === 'cnn:16,32');
    expect(stepVsFloor(fixture, cnn)).toBeNull();
    expect(stepVsFloor({ ...fixture, gemmFloor: undefined }, train(2))).toBeNull();
  });

  it('splits the speed-up over the stock model.fit into kernels, training loop and workers', () => {
    const [wasm] = fitDecomposition(fixture);
    expect(wasm.kernels).toBe('wasm');
    expect(wasm.kernelsFactor.value).toBeCloseTo(6.4, 10);
    expect(wasm.loopFactor.value).toBeCloseTo(80 / 64, 10);
    expect(wasm.workersFactor.value).toBeCloseTo(150 / 80, 10);
    expect(wasm.kernelsFactor.value * wasm.loopFactor.value * wasm.workersFactor.value).toBeCloseTo(wasm.total.value, 10);
    expect(wasm.loopFactor.range[0]).toBeCloseTo(80 / 70, 10);
    expect(fitDecomposition({ ...fixture, references: fixture.references.filter((r) => !r.fit || r.kernels === 'stock') })).toEqual([]);
  });

  it('writes one markdown row per measurement and per reference, with the ratios', () => {
    const md = renderMarkdown(fixture);
    expect(md).toContain('Each row is the median of 3 rounds');
    expect(md).toContain(
      '| train | mlp:1024,1024 | 1,863,690 | wasm | 2 | 256 | 150 | 120–1,510 | 1.68 | 1.88x | 94% | 3.0% (1.0%) | 40 |',
    );
    expect(md).toContain('| train | mlp:1024,1024 | 1,863,690 | wasm | 1 | 256 | 80 | - | 0.90 | 1.00x | 100% | 0.5% (0.0%) | 40 |');
    expect(md).toContain(
      '| train | mlp:1024,1024 | 1,863,690 | wasm | 2 | 512 (256 per worker) | 152 | - | 1.70 | 1.90x | 95% | 2.0% (1.0%) | 40 |',
    );
    expect(md).toContain('| pytorch-cpu (best) | train | mlp:1024,1024 | 2 | 1,000 | - | 11.20 | 0.15x |');
    expect(md).toContain('| pytorch-cpu (best) | train | cnn:16,32 | 1 | 600 | - | 4.20 | 1.50x |');
    expect(md).toContain('| tfjs model.fit, 1 thread | train | mlp:1024,1024 | 1 | 10 | - | 0.10 | 15.00x |');
    expect(md).toContain('openblas-pthread/libblas.so.3');
    // Step: 256 rows / 150 samples/s = 1,706.7 ms; floor: 128 rows per rank x 9,564,160 FLOPs at 100 GFLOP/s = 12.2 ms.
    expect(md).toContain('| mlp:1024,1024, batch 256 | wasm | 2 | 1,620 | 50.0 | 16.7 | 150.0 | 2,500 | 1,706.7 | 12.2 | 139.41x |');
    expect(md).toContain('OpenBLAS (libopenblas.so.0, 1 thread');
    expect(md).toContain('| training mlp:1024,1024 (wasm), global batch 256, W=2 vs W=1 | 1.88x | 1.50x–18.88x | >= 1.80x | no |');
    expect(md).toContain('| labelling mlp:1024,1024 (wasm), W=2 vs W=1 | 1.95x | - | >= 1.90x | yes |');
    expect(md).toContain('| of which waiting at the first barrier for the slower rank | 1.0% | - | - | - |');
    const onnxTarget = '| labelling onnx cnn:16,32, W=2 vs 0.9 x W x single-thread onnxruntime';
    expect(md).toContain(`${onnxTarget} | 1.03x | 0.98x–1.08x | >= 1.00x | no |`);
    // The ONNX rows: in the main table, against onnxruntime alone in the references, and in a table of their own.
    expect(md).toContain('| label | cnn:16,32 | 206,922 | onnxruntime | 2 | - | 18,500 | - | 68.82 | 2.06x | 103% | - | 40 |');
    expect(md).toContain('| onnxruntime-node, plain loop, 1 thread | label | cnn:16,32 | 1 | 10,000 | 9,500–10,500 | 24.40 | 1.85x |');
    expect(md).toContain('| onnxruntime-node, plain loop, intraOpNumThreads 2 | label | cnn:16,32 | 2 | 12,000 | - | 29.20 | 1.54x |');
    // The decomposition: stock fit 10 -> fit with the wasm kernels 64 (60-70 over rounds) -> W=1 80 -> W=2 150.
    expect(md).toContain(
      '| wasm | 10 | 64 | 6.40x (6.00–7.00) | 80 | 1.25x (1.14–1.33) | 150 | 1.88x (1.50–18.88) | 15.00x (12.00–151.00) |',
    );
    expect(md).toContain('10,000 rows/s (9,500–10,500) on 1 thread; 12,000 rows/s with intraOpNumThreads 2.');
    expect(md).toContain('| 1 | 9,000 | - | 90.0% (85.7%–94.7%) | 2,100 | 4.29x |');
    expect(md).toContain('| 2 | 18,500 | - | 92.5% (88.1%–97.4%) | 3,000 | 6.17x |');
    expect(md.split('\n').filter((l: string) => l.startsWith('| label ') || l.startsWith('| train ')).length).toBe(12);
    const plain = renderMarkdown(withoutOnnx);
    expect(plain).not.toContain('ONNX teacher labelling');
    expect(plain).toContain(`${onnxTarget} | not measured | - | >= 1.00x | - |`);
  });

  it('names each PyTorch setting of the grid, and the best one in the headline target', () => {
    const grid = {
      ...fixture,
      references: [
        ...fixture.references.filter((r) => r.name !== 'pytorch-cpu'),
        {
          name: 'pytorch-cpu',
          phase: 'train',
          model: 'mlp:1024,1024',
          threads: 1,
          config: "no settings (torch's default: 1 thread, OpenBLAS on every core)",
          samplesPerSec: 900,
          gflops: 10,
          best: false,
        },
        {
          name: 'pytorch-cpu',
          phase: 'train',
          model: 'mlp:1024,1024',
          threads: 1,
          config: '1 torch thread, OPENBLAS_NUM_THREADS=2',
          samplesPerSec: 1000,
          gflops: 11.2,
          best: true,
        },
      ],
    };
    const md = renderMarkdown(grid);
    expect(md).toContain(
      "| pytorch-cpu, no settings (torch's default: 1 thread, OpenBLAS on every core) | train | mlp:1024,1024 | 1 | 900 |",
    );
    expect(md).toContain('| pytorch-cpu, 1 torch thread, OPENBLAS_NUM_THREADS=2 (best) | train | mlp:1024,1024 | 1 | 1,000 |');
    expect(md).toContain(
      '| training samples/s, tfjs-distill on 2 cores (W=2, wasm) / PyTorch CPU (1 torch thread, OPENBLAS_NUM_THREADS=2) |',
    );
  });

  it('draws a line per series in both panels, ideal scaling, and the training references', () => {
    const svg = renderSvg(fixture);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    // 6 series x (measured throughput + ideal + efficiency) + the 100% line + 3 training references of the dense
    // model (the two model.fit and pytorch's best).
    expect(svg.match(/<polyline/g)).toHaveLength(6 * 3 + 1 + 3);
    expect(svg).toContain('label cnn:16,32 onnxruntime');
    expect(svg).toContain('train mlp:1024,1024 wasm, 256 rows per worker');
    expect(svg).toContain('pytorch-cpu, 2 threads (train)');
    expect(svg).not.toContain('pytorch-cpu (train)'); // the 1-thread row is not the best
    expect(svg).toContain('label cnn:16,32 wasm');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });
});
