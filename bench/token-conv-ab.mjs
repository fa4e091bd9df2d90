// A/B of the fused convolution of cnn1d students (TFJS_DISTILL_TOKEN_CONV, off = token front fused only),
// interleaved: each round runs the CLI at the text defaults (every core's workers) and with --workers 1, both
// settings on and off, on the SpamAssassin corpus of bench/text.mjs with seeded random teacher logits. Prints
// each run's student samples/s and report.json's per-step times (gradient, averaging with the wait in it, the
// wait, update), then the medians with ranges and the 1-minute load averages. Not part of `npm run bench`.
// Needs a build (dist/):
//   node bench/token-conv-ab.mjs [--rounds 3] [--student cnn1d:32,64] [--max-length 128]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { npyFloat32 } from './npy-writer.mjs';
import { writeSpamCorpus } from './spam-corpus.mjs';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string' }, student: { type: 'string' }, 'max-length': { type: 'string' } },
});
const rounds = Number(args.rounds ?? 3);
const spec = args.student ?? 'cnn1d:32,64';
const maxLength = args['max-length'] ?? '128';
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const TOKENIZER = fileURLToPath(new URL('../test/fixtures/tokenizers/spam-unigram', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tfjs-distill-token-conv-ab-'));
try {
  const corpus = writeSpamCorpus(scratch);
  const rows = readFileSync(corpus.train, 'utf8').trim().split('\n').length;
  let state = 7;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 8 - 4;
  const logits = join(scratch, 'logits.npy');
  writeFileSync(logits, npyFloat32(Float32Array.from({ length: rows * 2 }, random), [rows, 2]));
  const results = [];
  for (let round = 0; round < rounds; round++)
    for (const workers of ['default', '1'])
      for (const fused of ['on', 'off']) {
        const out = join(scratch, 'run');
        rmSync(out, { recursive: true, force: true });
        execFileSync(
          process.execPath,
          [
            CLI,
            'run',
            ...['--data', `text:${corpus.train}`, '--test-data', `text:${corpus.test}`, '--tokenizer', TOKENIZER],
            ...['--max-length', maxLength, '--teacher-logits', logits, '--student-arch', spec, '--out', out, '--allow-weak-teacher'],
            ...(workers === '1' ? ['--workers', '1'] : []),
          ],
          { env: { ...process.env, TFJS_DISTILL_TOKEN_CONV: fused }, stdio: ['ignore', 'ignore', 'inherit'] },
        );
        const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
        const phase = report.phases.find((p) => p.phase === 'student');
        const result = { round, workers, fused, samplesPerSec: phase.samplesPerSec, stepMs: phase.stepMs, load: loadavg()[0] };
        results.push(result);
        const ms = Object.entries(phase.stepMs).map(([k, v]) => `${k} ${v.toFixed(2)}`);
        console.log(
          `round ${round + 1} workers ${workers} (${report.trainWorkers} training) fused ${fused}: ${Math.round(phase.samplesPerSec)} samples/s; ms/step ${ms.join(', ')}; load ${result.load.toFixed(2)}`,
        );
      }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const workers of ['default', '1']) {
    const of = (fused) => results.filter((r) => r.workers === workers && r.fused === fused);
    const line = (fused) => {
      const runs = of(fused);
      const rates = runs.map((r) => r.samplesPerSec);
      const loads = runs.map((r) => r.load);
      return `${Math.round(median(rates))} samples/s (${Math.round(Math.min(...rates))}–${Math.round(Math.max(...rates))}), load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`;
    };
    const ratio = median(of('on').map((r, i) => r.samplesPerSec / of('off')[i].samplesPerSec));
    console.log(`workers ${workers}: fused ${line('on')}; token front only ${line('off')}; median per-round ratio ${ratio.toFixed(2)}x`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
