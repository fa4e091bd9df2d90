// The kernel grouping and the Markdown of bench/step-profile.mjs.

/** The matrix-product kernels: what the GEMM floor counts (convs run as im2col products). */
const GEMM_KERNELS = new Set([
  'MatMul',
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
]);

const sum = (values) => values.reduce((s, x) => s + x, 0);

/**
 * A pass's kernel times (name -> ms) in groups: GEMM and conv kernels; the loss (`lossMs`, its own forward
 * and backward timed apart by the clock; its kernels, `lossKernels`, are taken out of the others); the
 * remaining element-wise and activation kernels, with the heaviest of them named.
 */
export function groupKernels(kernels, lossKernels, lossMs) {
  const gemm = sum([...kernels].filter(([name]) => GEMM_KERNELS.has(name)).map(([, ms]) => ms));
  const others = [...kernels].filter(([name]) => !GEMM_KERNELS.has(name));
  const loss = lossMs;
  const lossInKernels = sum([...lossKernels.values()]);
  const heaviest = others
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([name, ms]) => ({ name, ms }));
  return { gemm, loss, elementwise: Math.max(0, sum(others.map(([, ms]) => ms)) - lossInKernels), heaviest };
}

const ms = (x) => (x === null || x === undefined ? '-' : x.toFixed(2));
const cell = (x, floor) => (floor ? `${ms(x)} (${(x / floor).toFixed(2)}x)` : ms(x));

function inThreadTable(rows) {
  const lines = [
    '| model | workers (rows per worker) | GEMM floor | GEMM and conv kernels | loss | other element-wise and activation kernels | tfjs dispatch and copies | forward and backward (clock) | optimizer (1/W of the weights) | reload of the shared weights | step in one thread (no averaging) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const { gemm, loss, elementwise } = r.groups;
    const dispatch = Math.max(0, r.passMs - gemm - loss - elementwise);
    const step = r.passMs + r.optimizerMs + r.reloadMs;
    const f = r.floorMs;
    lines.push(
      `| ${r.spec} | ${r.workers} (${r.rows}) | ${ms(f)} | ${cell(gemm, f)} | ${cell(loss, f)} | ${cell(elementwise, f)} | ${cell(dispatch, f)} | ` +
        `${ms(r.passMs)} (${r.passOverFloor.toFixed(2)}x) | ${cell(r.optimizerMs, f)} | ${cell(r.reloadMs, f)} | ${cell(step, f)} |`,
    );
  }
  return lines.join('\n');
}

function chainTable(rows) {
  const lines = [
    "| model | workers (rows per worker) | GEMM floor | forward and backward through tfjs's autograd | the dense chain's | autograd / chain |",
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows.filter((row) => row.chain)) {
    const { passMs, floorMs, passOverFloor } = r.chain;
    lines.push(
      `| ${r.spec} | ${r.workers} (${r.rows}) | ${ms(floorMs)} | ${ms(r.passMs)} (${r.passOverFloor.toFixed(2)}x) | ` +
        `${ms(passMs)} (${passOverFloor.toFixed(2)}x) | ${(r.passMs / passMs).toFixed(2)}x |`,
    );
  }
  return lines.join('\n');
}

function inPoolTable(rows, floors) {
  const lines = [
    '| model | workers (rows per worker) | GEMM floor | gradient (forward and backward) | averaging | of which waiting for the slower rank | optimizer and reload | step | step / floor |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const f = floors.get(`${r.spec} ${r.rows}`);
    const s = r.stepMs;
    const step = s.gradient + s.averaging + s.update;
    lines.push(
      `| ${r.spec} | ${r.workers} (${r.rows}) | ${ms(f)} | ${cell(s.gradient, f)} | ${cell(s.averaging, f)} | ${ms(s.waiting)} | ` +
        `${cell(s.update, f)} | ${ms(step)} | ${f ? `${(step / f).toFixed(2)}x` : '-'} |`,
    );
  }
  return lines.join('\n');
}

function reluTable(rows) {
  const lines = [
    "| model | workers (rows per worker) | what is timed | with tfjs's Relu gradient | with the native one | speed-up | range |",
    '| --- | --- | --- | ---: | ---: | ---: | ---: |',
  ];
  const row = (r, what, { nativeMs, tfjsMs, ratios }) =>
    `| ${r.spec} | ${r.workers} (${r.rows}) | ${what} | ${ms(tfjsMs)} | ${ms(nativeMs)} | ${(tfjsMs / nativeMs).toFixed(2)}x | ` +
    `${Math.min(...ratios).toFixed(2)}x–${Math.max(...ratios).toFixed(2)}x |`;
  for (const r of rows) {
    lines.push(row(r, 'forward and backward pass', r.reluAB));
    lines.push(row(r, `the gradient alone, [${r.reluKernelAB.shape.join(', ')}]`, r.reluKernelAB));
  }
  return lines.join('\n');
}

const load = (l) => l.map((x) => x.toFixed(2)).join(' ');

/** The profile's Markdown page. */
export function renderProfile(result) {
  const floors = new Map(result.inThread.map((r) => [`${r.spec} ${r.rows}`, r.floorMs]));
  const heaviest = result.inThread
    .map((r) => `- ${r.spec}, ${r.rows} rows: ${r.groups.heaviest.map((k) => `${k.name} ${k.ms.toFixed(2)}`).join(', ')}`)
    .join('\n');
  return `# Training step profile against the GEMM floor

${result.processor}, ${result.cores} cores; kernels ${result.kernels} (${result.blas ?? 'no BLAS'}, 1 thread per worker); load average ${load(result.loadAverage.start)} at the start, ${load(result.loadAverage.end)} at the end. Produced by \`node --expose-gc bench/step-profile.mjs\`.

All times are ms per step. In brackets: the part over the step's GEMM floor, the time OpenBLAS's sgemm (1 thread, through tfjs-distill's addon) takes on this machine on the step's own GEMM shapes for one worker's rows (forward, weight gradients, input gradients but the first layer's; convs as im2col products), one call each, timed in the same rounds as the forward and backward pass, alternating with it (the floor is the median over those rounds; the pass's ratio is the median of the rounds' ratios). The pool's steps are set against the same floors, measured earlier in the run.

## In one thread, as a worker runs the step

replica-step.ts's gradientPass and ShardUpdate on one rank's rows of a KD step with Adam: the forward and backward pass timed whole by the clock (median of ${result.rounds}) and per kernel by tf.profile (each kernel's median over ${result.profiledPasses} passes). The loss is its own forward and backward on logits of the same shape, timed apart by the clock; its kernels are taken out of the element-wise ones. Dispatch and copies: the pass's time outside any kernel (gathering rows, making tensors, tfjs's tape and dispatch, copying the gradient into the exchange slot). The optimizer runs on this rank's chunk (1/W of the weights); the reload copies every shared weight into the replica's variables. The kernels' medians and the pass's clock come from different passes: on a quiet machine they agree, under contention they do not, and dispatch and copies then read 0 where the kernels' medians exceed the clock (compare the load average above).

${inThreadTable(result.inThread)}

ReLU's gradient in one native pass (src/kernels/blas/relu-grad.ts) against tfjs's Step and Multiply passes: the whole forward and backward pass, and the Relu gradient alone on the model's first (largest) ReLU activation, the two gradients alternating in ${result.rounds} rounds (ms, medians; the speed-up's range is over the rounds):

${reluTable(result.inThread)}

The workers train a plain dense student as a dense chain (src/train/dense-chain-step.ts: each layer one sgemm forward and two backward, the gradients written straight into the slot, tfjs only for the loss), so the pass above is not the one they run for it; the chain's pass on the same rows, alternating with the same floor (its own rounds; ms, medians, in brackets the median of the rounds' ratios to the floor):

${chainTable(result.inThread)}

The heaviest kernels outside the GEMMs (ms):
${heaviest}

## In the pool, as trainDataParallel runs it

Per step, averaged over the ranks, of the median of 3 runs of ${result.poolSteps} steps (after a first step left out).

${inPoolTable(result.inPool, floors)}

## Text students

bench/text-step-profile.mjs (one thread, same kernels; its Adam is a plain JS loop, not the native one the workers run):

\`\`\`
${result.text.trim()}
\`\`\`
`;
}
