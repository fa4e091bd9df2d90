import type { SweepModelResult, SweepReport, SweepTrial } from '../../dist/index.js';

/**
 * A sweep as `tfjs-distill sweep` would report it for Fashion-MNIST with all labels: temperature {1, 2, 4} x
 * alpha {0.5, 0.9} x student {mlp:32, mlp:128}, twelve trials and a baseline per architecture. The figures
 * follow the measurements; trials 0 and 2 tie on test accuracy, so the size plot's front holds both.
 */
export function sweepReportFixture(): SweepReport {
  const architectures = {
    'mlp:32': { params: 25_450, bytes: 101_800 },
    'mlp:128': { params: 101_770, bytes: 407_080 },
  };
  const model = (student: keyof typeof architectures, folder: string, figures: number[]): SweepModelResult => {
    const [validationAccuracy, testAccuracy, agreement, latencyMsBatch1] = figures;
    return { student, validationAccuracy, testAccuracy, agreement, ...architectures[student], latencyMsBatch1, folder, seconds: 41.5 };
  };
  // Per trial: validation accuracy, test accuracy, agreement with the teacher, batch-1 latency in ms.
  const measured: number[][] = [
    [0.866, 0.862, 0.885, 0.03],
    [0.865, 0.861, 0.889, 0.032],
    [0.864, 0.862, 0.887, 0.029],
    [0.863, 0.86, 0.891, 0.033],
    [0.857, 0.853, 0.872, 0.031],
    [0.851, 0.848, 0.869, 0.03],
    [0.884, 0.879, 0.905, 0.06],
    [0.886, 0.881, 0.911, 0.057],
    [0.883, 0.88, 0.909, 0.061],
    [0.882, 0.878, 0.912, 0.059],
    [0.876, 0.874, 0.897, 0.056],
    [0.874, 0.873, 0.894, 0.062],
  ];
  const trials = measured.map((figures, index): SweepTrial => {
    const student = index < 6 ? 'mlp:32' : 'mlp:128';
    const settings = { temperature: [1, 1, 2, 2, 4, 4][index % 6], alpha: [0.5, 0.9][index % 2], student };
    const folder = `trials/${String(index).padStart(2, '0')}`;
    return { ...model(student, folder, figures), index, settings, baseline: index < 6 ? 0 : 1 };
  });
  return {
    format: 'tfjs-distill/sweep',
    version: 1,
    grid: { temperature: [1, 2, 4], alpha: [0.5, 0.9], student: ['mlp:32', 'mlp:128'] },
    gridPoints: 12,
    trials,
    baselines: [
      { ...model('mlp:32', 'baselines/mlp-32', [0.862, 0.859, 0, 0.031]), agreement: null },
      { ...model('mlp:128', 'baselines/mlp-128', [0.879, 0.876, 0, 0.058]), agreement: null },
    ],
    best: 7,
    teacher: { spec: 'cnn:16,32', testAccuracy: 0.918, validationAccuracy: 0.921, params: 206_922, bytes: 827_688 },
    schedule: { mode: 'concurrent', workers: 2, reason: 'one trial per worker: a step of mlp:128 costs less than averaging it' },
    rows: { train: 54_000, labeled: 54_000, validation: 6_000, test: 10_000 },
    labelling: { storeFile: 'runs/sweep/soft-labels.bin', seconds: 12.4 },
    notices: ['mlp:32: the best distilled trial (#0: temperature 1, alpha 0.5) beats its baseline by 0.40 points on validation.'],
  };
}
