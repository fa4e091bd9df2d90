// What the bench runs, in one place: every measuring script (tfjs-distill, the tfjs model.fit reference,
// PyTorch) takes the same job from here, so their numbers compare.
const job = {
  /** The dense model of the comparison, 784-1024-1024-10 on MNIST rows: labelled and trained. */
  denseModel: 'mlp:1024,1024',
  /** A CNN teacher, labelled only. */
  cnnModel: 'cnn:16,32',
  batchSize: 256,
  temperature: 4,
  alpha: 0.9,
  learningRate: 1e-3,
};

// quick: one round (bench/run.mjs), about 1.5 minutes on 2 shared cores (97 s measured). full: three rounds,
// 8 measured steps per training run (after a first step timed apart: bench/measure.mjs), 5+ runs per
// task; about 10 minutes. The ONNX labelling rows and their references (when PyTorch can export the CNN and
// onnxruntime-node loads: bench/run.mjs) add about 15 s to quick and 1.5 minutes to full, and label the same
// labelRows rows as the tfjs CNN.
export const BENCH_SETTINGS = {
  quick: { ...job, labelRows: 2048, trainSteps: 4, benchMs: 0, iterations: 2 },
  full: { ...job, labelRows: 7996, trainSteps: 8, benchMs: 4000, iterations: 5 },
};
