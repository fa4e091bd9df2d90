// The report page's "ONNX export" section: the student's model.onnx as onnxruntime-node ran it on the test
// rows, next to the tfjs student.
import { bytes, esc, percent } from './html-format.js';
import type { OnnxExportReport } from './report.js';

/** A number cell, marked with its metric so a test can read the page as a browser renders it. */
function cell(onnx: OnnxExportReport, metric: keyof OnnxExportReport, text: string): string {
  return `<td class="num" data-export="${esc(onnx.path)}" data-metric="${metric}" data-value="${esc(onnx[metric])}">${esc(text)}</td>`;
}

/** The largest logit difference as the page and the summary print it: three significant digits. */
export const logitDiffText = (diff: number) => (diff !== 0 && Math.abs(diff) < 1e-3 ? diff.toExponential(2) : diff.toPrecision(3));

/** What a format's weights are, for the table. */
const FORMAT_TEXT = { onnx: 'float32', 'onnx-uint8': 'uint8 kernels' } as const;

/** The exported files, their input and output, and how each agreed with tfjs. */
export function onnxSection(exports: OnnxExportReport[]): string {
  const shape = (dims: (number | null)[]) => `[${dims.map((d) => d ?? 'batch').join(', ')}]`;
  const rows = exports.map(
    (onnx) =>
      `<tr><th>${esc(onnx.path)}</th><td>${esc(`ONNX opset ${onnx.opset}, ${FORMAT_TEXT[onnx.format]}`)}</td>` +
      `${cell(onnx, 'bytes', bytes(onnx.bytes))}${cell(onnx, 'accuracy', percent(onnx.accuracy))}` +
      `${cell(onnx, 'agreement', percent(onnx.agreement))}${cell(onnx, 'maxAbsLogitDiff', logitDiffText(onnx.maxAbsLogitDiff))}</tr>`,
  );
  const onnx = exports[0];
  return [
    '<table class="artifacts">',
    '<thead><tr><th>file</th><th>format</th><th class="num">size</th><th class="num">test accuracy</th>' +
      '<th class="num">agreement with tfjs</th><th class="num">largest logit difference</th></tr></thead>',
    `<tbody>${rows.join('\n')}</tbody>`,
    '</table>',
    `<p class="muted">Input <code>${esc(onnx.input.name)}</code> ${esc(onnx.input.dtype)} ${esc(shape(onnx.input.shape))}, ` +
      `output <code>${esc(onnx.output.name)}</code> ${esc(onnx.output.dtype)} ${esc(shape(onnx.output.shape))} (logits). ` +
      `Each file was loaded by onnxruntime-node and run on the ${esc(onnx.rows)} test rows beside the tfjs student ` +
      `(test accuracy ${esc(percent(onnx.tfjsAccuracy))}).</p>`,
  ].join('\n');
}
