// The report page's "Shipped models" section: the float32 student and each quantised variant the run wrote,
// as stock tfjs loaded them from their files and scored them on the test rows.
import { DASH, bytes, esc, percent, signed } from './html-format.js';
import type { ArtifactReport, QuantizationReport } from './report.js';

/** A number cell, marked with its artifact and metric so a test can read the page as a browser renders it. */
function cell(artifact: ArtifactReport, metric: keyof ArtifactReport, text: string): string {
  return `<td class="num" data-artifact="${esc(artifact.path)}" data-metric="${metric}" data-value="${esc(artifact[metric])}">${esc(text)}</td>`;
}

/** The table of shipped models, what auto kept, and the warnings. */
export function artifactsSection(q: QuantizationReport): string {
  const float32 = q.artifacts[0];
  const rows = q.artifacts.map(
    (a) =>
      `<tr><th>${esc(`${a.path}/`)}</th><td>${esc(a.format)}</td>${cell(a, 'bytes', bytes(a.bytes))}` +
      `${cell(a, 'weightBytes', `${bytes(a.weightBytes)} (${percent(a.weightBytes / float32.weightBytes)})`)}` +
      `${cell(a, 'accuracy', percent(a.accuracy))}${cell(a, 'accuracyDrop', a === float32 ? DASH : signed(a.accuracyDrop))}` +
      `${cell(a, 'agreement', percent(a.agreement))}</tr>`,
  );
  const chosen = q.auto?.chosen;
  const points = `${q.maxQuantizeDrop} point${q.maxQuantizeDrop === 1 ? '' : 's'}`;
  const auto = chosen
    ? `quantize auto kept ${chosen}, the smallest variant within ${points} of float32's test accuracy, of ` +
      q.auto!.candidates.map((c) => `${c.format} (${signed(c.accuracyDrop)} points)`).join(', ')
    : undefined;
  return [
    '<table class="artifacts">',
    '<thead><tr><th>folder</th><th>format</th><th class="num">size</th><th class="num">weights (of float32)</th>' +
      '<th class="num">test accuracy</th><th class="num">change (points)</th><th class="num">agreement with float32</th></tr></thead>',
    `<tbody>${rows.join('\n')}</tbody>`,
    '</table>',
    ...(auto ? [`<p class="muted" data-auto="${esc(chosen)}">${esc(auto)}.</p>`] : []),
    ...(q.warnings.length > 0 ? [`<ul class="warnings">\n${q.warnings.map((w) => `<li>${esc(w)}</li>`).join('\n')}\n</ul>`] : []),
    '<p class="muted">Each folder is a model.json that stock <code>tf.loadLayersModel</code> loads (it dequantises the ' +
      'weights as it reads them); each was loaded that way from its files and run on the test rows.</p>',
  ].join('\n');
}
