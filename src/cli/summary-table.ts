import { type ClassificationScores, weakestClass } from '../infer/class-scores.js';
import { logitDiffText } from '../reports/onnx-html.js';
import { trainedOnText } from '../reports/report-html.js';
import type { DistillReport, EnsembleReport, OnnxExportReport, QuantizationReport } from '../reports/report.js';

const count = new Intl.NumberFormat('en-US');
const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
const rate = (x: number) => count.format(Math.round(x));
const ms = (x: number) => (x >= 0.1 ? `${x.toFixed(2)} ms` : `${(x * 1000).toFixed(1)} µs`);

function bytes(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function softLabelLine({ softLabels: s }: DistillReport): string {
  const kept = s.file ? (s.reused ? `reused from ${s.file}` : `written to ${s.file}`) : 'kept in memory';
  const where = s.importedFrom ? `imported from ${s.importedFrom}` : kept;
  return `soft labels: ${s.encoding}, ${s.bytesPerRow} bytes per row, ${where} (${s.seconds.toFixed(1)} s)`;
}

/**
 * Where a distillation step went, for choosing the worker count: the gradient shrinks as workers are
 * added, the averaging and the update do not.
 */
function studentStepLine(report: DistillReport): string | undefined {
  const phase = report.phases.find((p) => p.phase === 'student');
  const step = phase?.stepMs;
  if (!step) return undefined;
  const f = (x: number) => x.toFixed(1);
  const waiting = phase.workers > 1 ? ` (${f(step.waiting)} waiting for the slowest worker)` : '';
  return `distillation step: ${f(step.gradient)} ms gradient, ${f(step.averaging)} ms averaging${waiting}, ${f(step.update)} ms update`;
}

/**
 * Each model's class with the lowest test F1: accuracy hides a minority class a model gets wrong, and
 * report.json and report.html have every class.
 */
function weakestClassLine(report: DistillReport): string | undefined {
  const models: [string, ClassificationScores | undefined][] = [
    ['teacher', report.teacher ?? undefined],
    ['student', report.student],
    ['baseline', report.baseline],
  ];
  const parts = models.flatMap(([model, scores]) => {
    const c = scores && weakestClass(scores);
    if (scores === undefined || c === undefined) return [];
    const { f1, precision, recall } = scores.perClass[c];
    const name = report.data.classes?.[c] ?? `class ${c}`;
    return [`${model} ${name} F1 ${percent(f1)} (precision ${percent(precision)}, recall ${percent(recall)})`];
  });
  return parts.length > 0 && report.data.numClasses > 1 ? `lowest test F1 of a class: ${parts.join('; ')}` : undefined;
}

/** Right-aligns every column but the first. */
function aligned(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   '));
}

/**
 * The shipped models (--quantize): each folder as stock tfjs loaded it and scored it on the test rows,
 * what auto chose, and a warning line for each variant that lost too much or could not be made.
 */
function artifactLines(q: QuantizationReport): string[] {
  const rows = [
    ['shipped model', 'format', 'size', 'weights', 'test accuracy', 'agreement with float32'],
    ...q.artifacts.map((a) => [`${a.path}/`, a.format, bytes(a.bytes), bytes(a.weightBytes), percent(a.accuracy), percent(a.agreement)]),
  ];
  const chosen = q.auto?.chosen;
  const auto = chosen
    ? [
        `quantize auto: wrote ${q.artifacts[1].path}/, the smallest variant within ${q.maxQuantizeDrop} ` +
          `point${q.maxQuantizeDrop === 1 ? '' : 's'} of float32's test accuracy`,
      ]
    : [];
  return ['', ...aligned(rows), ...auto, ...q.warnings.map((warning) => `warning: ${warning}`)];
}

/** An ensemble teacher's members, each alone on the test rows, under the table. */
function ensembleLines(ensemble: EnsembleReport): string[] {
  const combined = ensemble.combine === 'logits' ? 'the mean of their logits' : 'the mean of their probabilities';
  return [
    '',
    `the teacher is an ensemble of ${ensemble.members.length} (${combined}); each alone:`,
    ...aligned(
      ensemble.members.map((member) => [
        `  ${member.name}`,
        `test accuracy ${percent(member.accuracy)}`,
        `agreement with the ensemble ${percent(member.agreement)}`,
      ]),
    ),
  ];
}

/** An ONNX export (--export onnx): its file and how onnxruntime-node's run of it agreed with tfjs. */
function onnxLine(onnx: OnnxExportReport): string {
  return (
    `onnx: ${onnx.path} (${bytes(onnx.bytes)}), on onnxruntime-node: test accuracy ${percent(onnx.accuracy)}, ` +
    `agreement with tfjs ${percent(onnx.agreement)}, largest logit difference ${logitDiffText(onnx.maxAbsLogitDiff)}`
  );
}

/** The side-by-side comparison printed at the end of a run: teacher vs student (vs baseline). */
export function summaryTable(report: DistillReport, names: { teacher: string; student: string }): string {
  const { student, baseline } = report;
  // The teacher column: a model the run evaluated, imported test logits (accuracy alone), or nothing.
  const teacher = report.teacher && 'params' in report.teacher ? report.teacher : undefined;
  const dash = '-';
  const or = <T>(value: T | null | undefined, format: (v: T) => string) => (value === null || value === undefined ? dash : format(value));
  const rows: string[][] = [
    ['', 'teacher', 'student', ...(baseline ? ['baseline'] : [])],
    ['model', names.teacher, names.student, ...(baseline ? [names.student] : [])],
    ['test accuracy', or(report.teacher?.accuracy, percent), percent(student.accuracy), ...(baseline ? [percent(baseline.accuracy)] : [])],
    ['test macro-F1', or(report.teacher?.macroF1, percent), percent(student.macroF1), ...(baseline ? [percent(baseline.macroF1)] : [])],
    ['agreement with teacher', dash, or(student.agreement, percent), ...(baseline ? [or(baseline.agreement, percent)] : [])],
    ['parameters', or(teacher?.params, count.format), count.format(student.params), ...(baseline ? [count.format(student.params)] : [])],
    ['size (model.json + weights)', or(teacher?.bytes, bytes), bytes(student.bytes), ...(baseline ? [bytes(student.bytes)] : [])],
    ['latency per sample, batch 1', or(teacher?.latencyMsBatch1, ms), ms(student.latencyMsBatch1), ...(baseline ? [dash] : [])],
    ['latency per sample, batch 256', or(teacher?.latencyMsBatch256, ms), ms(student.latencyMsBatch256), ...(baseline ? [dash] : [])],
  ];
  const weakest = weakestClassLine(report);
  const lines = [
    ...aligned(rows),
    ...(teacher?.ensemble ? ensembleLines(teacher.ensemble) : []),
    ...(weakest ? [weakest] : []),
    ...report.warnings.map((warning) => `warning: ${warning}`),
    ...(report.quantization ? artifactLines(report.quantization) : []),
    ...(report.onnx ? ['', ...report.onnx.map(onnxLine)] : []),
  ];
  const t = report.throughput;
  const rates = [
    t.teacherTrainSamplesPerSec !== undefined ? `teacher training ${rate(t.teacherTrainSamplesPerSec)}` : undefined,
    // A reused file carries the rate of the run that labelled the rows; this run labelled none.
    t.labelSamplesPerSec === null
      ? undefined
      : `labelling ${rate(t.labelSamplesPerSec)}${report.softLabels.reused ? ' (when the reused file was written)' : ''}`,
    `distillation ${rate(t.trainSamplesPerSec)}`,
    t.baselineTrainSamplesPerSec !== undefined ? `baseline ${rate(t.baselineTrainSamplesPerSec)}` : undefined,
  ].filter(Boolean);
  const threads = report.kernels === 'openblas' && report.threadsPerWorker > 1 ? ` x ${report.threadsPerWorker} BLAS threads` : '';
  const workers = `${report.workers} worker${report.workers === 1 ? '' : 's'}${threads}${trainedOnText(report)}`;
  const stepLine = studentStepLine(report);
  return [
    ...lines,
    '',
    `backend ${report.backend}${report.backend === 'wasm' ? ` (${report.kernels} kernels)` : ''}, ${workers}; ` +
      `setup ${t.setupSeconds.toFixed(1)} s`,
    `samples/s: ${rates.join(', ')}`,
    ...(stepLine ? [stepLine] : []),
    softLabelLine(report),
    ...(report.resumed.length > 0 ? [`resumed from the checkpoint: ${report.resumed.join(', ')}`] : []),
    ...report.restarts.map((r) => `restarted the workers during ${r.phase}: ${r.reason}`),
    // Fallbacks and repairs the run made (another kernel set, a soft-label file rewritten, skipped steps):
    // the user should hear of them here, not only in report.json.
    ...report.notices.map((notice) => `notice: ${notice}`),
  ].join('\n');
}
