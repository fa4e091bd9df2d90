// The bench's headline table: bench/cli-throughput.mjs's CLI runs against PyTorch's best setting.

/** The headline table of bench/cli-throughput.mjs's result, with the paragraph that says how it was measured. */
export function renderHeadline(r) {
  const settings = r.settings;
  const n = (x) => Math.round(x).toLocaleString('en-US');
  const x2 = (x) => `${x.toFixed(2)}x`;
  const load = (l) => l.map((v) => v.toFixed(2)).join(' ');
  const lines = [
    `${r.processor}, ${r.cores} cores; load average ${load(r.loadAverage.start)} at the start, ${load(r.loadAverage.end)} at the end.`,
    '',
    `tfjs-distill: \`tfjs-distill run --data mnist --teacher-logits FILE --student-arch SPEC --batch-size ${settings.batchSize} --epochs ${r.epochs} --workers W\` ` +
      `(Adam, lr ${settings.learningRate}, KD loss T ${settings.temperature}, alpha ${settings.alpha}, everything else the defaults), the student phase's ` +
      `samples/s from report.json (throughput.trainSamplesPerSec: first step included). PyTorch ${r.pytorch}: bench/pytorch_kd.py on the same job, ` +
      `each setting of its thread grid timed over ${r.pytorchSteps} steps after a warm-up step, ${r.pytorchRepeats === 1 ? 'once a round' : `${r.pytorchRepeats} times a round (their median)`}, its best setting per model (the highest median over the rounds). ` +
      `Medians of ${r.rounds} rounds (each round runs everything in turn), ranges over the rounds; the ratio's range is each round's ratio.`,
    '',
    '| student | workers | tfjs-distill samples/s (report.json) | range | PyTorch best setting | PyTorch samples/s | range | tfjs-distill / PyTorch | range over rounds |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    ...r.rows.map(
      (row) =>
        `| ${row.spec} | ${row.workers} | ${n(row.samplesPerSec)} | ${n(row.samplesPerSecRange[0])}–${n(row.samplesPerSecRange[1])} | ` +
        `${row.pytorchBest.setting} | ${n(row.pytorchBest.samplesPerSec)} | ${n(row.pytorchBest.range[0])}–${n(row.pytorchBest.range[1])} | ` +
        `${x2(row.ratio)} | ${x2(row.ratioRange[0])}–${x2(row.ratioRange[1])} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
