// What the bench runs, in one place: every measuring script (tfjs-distill, the tfjs model.fit reference,
// PyTorch) takes the same job from here, so their numbers compare.
const job = {
  /** The dense model of the comparison, 784-1024-1024-10 on MNIST rows: labelled and trained. */
  denseModel: 'mlp:1024,1024',
  /** A CNN, labelled and trained (at the global batch). */
  cnnModel: 'cnn:16,32',
  batchSize: 256,
  temperature: 4,
  alpha: 0.9,
  learningRate: 1e-3,
  /**
   * PyTorch's timings (bench/pytorch_kd.py): this many steps after a warm-up step, this many times in a round
   * (their median); the bench's rounds then give the median of at least three such timings per setting.
   */
  pytorchSteps: 40,
  pytorchRepeats: 1,
};

// quick: one round (bench/run.mjs), about 1.5 minutes on 2 shared cores before the CNN training rows, the
// model.fit references with tfjs-distill's kernels, the GEMM floor and PyTorch's CNN were added; 3 minutes
// 16 s with them, taken under heavy contention from other work (load average 3 to 10). full: three rounds,
// 8 measured steps per training run (after a first step timed apart: bench/measure.mjs), 5+ runs per
// task; about 12 minutes before those additions, an estimated 16 to 18 with them (most of it PyTorch's
// CNN in each setting of its grid, then tfjs-distill's CNN training). The ONNX labelling rows and their
// references (when PyTorch can export the CNN and onnxruntime-node loads: bench/run.mjs) label the same
// labelRows rows as the tfjs CNN. The stock model.fit is slow: it is timed once a round (fitStockIterations)
// after one warm-up fit, the same six fits in a full run as before the references were timed in rounds.
export const BENCH_SETTINGS = {
  quick: { ...job, labelRows: 2048, trainSteps: 4, benchMs: 0, iterations: 2, fitStockIterations: 1 },
  full: { ...job, labelRows: 7996, trainSteps: 8, benchMs: 4000, iterations: 5, fitStockIterations: 1 },
};
