// The student folder's README.md: what the model is, where it came from, how well and how fast it does
// (the run's own numbers), and how to run it, with tfjs-distill's entry point or stock tfjs alone.
import type * as tf from '@tensorflow/tfjs';
import type { InputContract } from '../data/input-contract.js';
import type { DistillReport, QuantizationReport, StudentFolderReport } from '../reports/report.js';
import { bytes, count, ms, percent } from '../reports/html-format.js';
import { STUDENT_FILES } from '../student-layout.js';

/** What the card is made from. */
export interface ModelCardInput {
  report: DistillReport;
  student: tf.LayersModel;
  contract: InputContract;
  classes: string[];
  quantization?: QuantizationReport;
  /** The folder's latency (its files are listed after the card is written). */
  folder: StudentFolderReport;
  command?: string;
}

/** Text safe inside a markdown table cell. */
const cell = (value: unknown) => String(value).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`)].join(
    '\n',
  );
const fence = (lang: string, body: string) => `\`\`\`${lang}\n${body}\n\`\`\``;

/** A model setting as the card names it: an architecture spec, or a file's name. */
const modelName = (spec: unknown) => (typeof spec === 'string' ? spec : spec == null ? 'none' : 'a model object');

/** A scale as code: `1 / 255` rather than its decimals. */
const scaleText = (scale: number) => (Math.abs(scale * 255 - 1) < 1e-12 ? '1 / 255' : String(scale));

/** One line on what the input is, for the card's table. */
function inputLine(contract: InputContract): string {
  switch (contract.kind) {
    case 'image':
      return `image ${contract.height}x${contract.width}x${contract.channels} (${contract.layout}), pixels times ${scaleText(contract.scale)}${contract.mean ? ', minus mean, over std' : ''}`;
    case 'text':
      return `text (field \`${contract.textField}\`), tokenised to ${contract.maxLength} ids with ${contract.tokenizerFiles.join(' + ')}`;
    case 'table':
      return `table row of ${contract.columns.length} columns (${contract.columns.join(', ')}), standardised`;
    default:
      return `${contract.inputShape.join('x')} numbers${contract.scale === undefined ? ', as given' : `, times ${scaleText(contract.scale)}`}`;
  }
}

/**
 * Stock tfjs: one example (a stand-in the reader replaces) made into the input tensor `x`; and the
 * stand-in example the entry point takes.
 */
function inputCode(contract: InputContract): { stock: string; example: string } {
  const shape = `[1, ${contract.inputShape.join(', ')}]`;
  const size = contract.inputShape.reduce((a, b) => a * b, 1);
  switch (contract.kind) {
    case 'image': {
      const normalise = contract.mean ? `.sub([${contract.mean}]).div([${contract.std ?? contract.mean.map(() => 1)}])` : '';
      const pixels = `new Uint8Array(${size}); // your ${contract.height}x${contract.width}x${contract.channels} image: pixels 0..255, row by row`;
      return {
        stock: `const pixels = ${pixels}\nconst x = tf.tensor(pixels, ${shape}).mul(${scaleText(contract.scale)})${normalise};`,
        example: pixels,
      };
    }
    case 'text':
      return {
        stock:
          `// your text's ${contract.maxLength} token ids from ${contract.tokenizerFiles[0]}: truncated on the right, the ` +
          `tokenizer's pad id ${contract.tokenizerPadId} and id 0 trade places, padded with 0\n` +
          `const ids = new Float32Array(${contract.maxLength});\nconst x = tf.tensor(ids, ${shape});`,
        example: `{ ${JSON.stringify(contract.textField)}: 'the text to classify' };`,
      };
    case 'table':
      return {
        stock:
          '// your row: the columns of preprocessing.json in order, each (value - mean[i]) / std[i]\n' +
          `const cells = new Float32Array(${size});\nconst x = tf.tensor(cells, ${shape});`,
        example: `{ ${contract.columns.map((c) => `${JSON.stringify(c)}: 0`).join(', ')} }; // your row`,
      };
    default: {
      const scale = contract.scale === undefined ? '' : `.mul(${scaleText(contract.scale)})`;
      const values = `new Float32Array(${size}); // your row`;
      return { stock: `const values = ${values}\nconst x = tf.tensor(values, ${shape})${scale};`, example: values };
    }
  }
}

/** The accuracy table: the student, the teacher and the baseline, on the test rows. */
function accuracySection(report: DistillReport): string {
  const agreement = (value: number | null | undefined) => (value == null ? '–' : percent(value));
  const rows = [['student', percent(report.student.accuracy), agreement(report.student.agreement)]];
  if (report.teacher) rows.push(['teacher', percent(report.teacher.accuracy), '–']);
  if (report.baseline)
    rows.push(['baseline (same architecture, hard labels only)', percent(report.baseline.accuracy), agreement(report.baseline.agreement)]);
  return `## Accuracy\n\nOn the ${count.format(report.data.testRows)} test rows.\n\n${table(['model', 'test accuracy', 'agreement with the teacher'], rows)}`;
}

/** The size table: the float32 student and each variant, as stock tfjs loaded and scored them. */
function sizeSection(report: DistillReport, quantization: QuantizationReport | undefined): string {
  const artifacts = quantization?.artifacts ?? [];
  const lines = [`## Size\n\nmodel.json + weights.bin: ${bytes(report.student.bytes)} (float32).`];
  if (artifacts.length > 1) {
    const base = artifacts[0];
    const rows = artifacts.map((a) => [
      `\`${a.path.slice(base.path.length + 1) || '.'}/\``,
      a.format,
      bytes(a.bytes),
      `${bytes(a.weightBytes)} (${percent(a.weightBytes / base.weightBytes)})`,
      percent(a.accuracy),
      percent(a.agreement),
    ]);
    lines.push(
      'Quantised variants, each its own model.json that stock `tf.loadLayersModel` loads and dequantises, each loaded ' +
        'that way and scored on the test rows:',
      table(['folder', 'format', 'size', 'weights (of float32)', 'test accuracy', 'agreement with float32'], rows),
      ...quantization!.warnings.map((warning) => `- warning: ${warning}`),
    );
  }
  return lines.join('\n\n');
}

function latencySection({ latency }: StudentFolderReport): string {
  return (
    `## Latency\n\nThe float32 student loaded from these files with stock tfjs (${latency.backend} backend, one thread) and run on ` +
    `the test rows, each prediction read back: batch 1: ${ms(latency.batch1Ms)} (median of ${latency.repeats.batch1}); ` +
    `batch 256: ${ms(latency.batch256Ms)} (median of ${latency.repeats.batch256}), ${count.format(Math.round(latency.batch256RowsPerSec))} rows/s.`
  );
}

/** How to run it: tfjs-distill's entry point (Node and browser), then stock tfjs alone. */
function usageSection(contract: InputContract): string {
  const { stock, example } = inputCode(contract);
  const entry = (dir: string) =>
    `import { loadStudent } from 'tfjs-distill/student';\n\nconst student = await loadStudent('${dir}');\nconst input = ${example}\n` +
    'const [top] = await student.predict([input]);\nconsole.log(top.label, top.probabilities);';
  const stockNode = [
    "import * as tf from '@tensorflow/tfjs';",
    "import { readFile } from 'node:fs/promises';",
    '',
    "const dir = './student';",
    `const json = JSON.parse(await readFile(\`\${dir}/${STUDENT_FILES.model}\`, 'utf8'));`,
    `const bin = await readFile(\`\${dir}/${STUDENT_FILES.weights}\`);`,
    'const model = await tf.loadLayersModel(tf.io.fromMemory({',
    '  modelTopology: json.modelTopology,',
    '  weightSpecs: json.weightsManifest.flatMap((group) => group.weights),',
    '  weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),',
    '}));',
    `const classes = JSON.parse(await readFile(\`\${dir}/${STUDENT_FILES.classes}\`, 'utf8'));`,
    stock,
    'const probabilities = await model.predict(x).data();',
    'console.log(classes[probabilities.indexOf(Math.max(...probabilities))]);',
  ].join('\n');
  const stockBrowser = [
    "const model = await tf.loadLayersModel('student/model.json'); // served with the page; uint8/model.json for the uint8 variant",
    "const classes = await (await fetch('student/classes.json')).json();",
    stock,
    'const probabilities = await model.predict(x).data();',
  ].join('\n');
  return [
    '## Use it',
    `Copy this folder as it is. ${STUDENT_FILES.preprocessing} says how an example becomes the model's input; ${STUDENT_FILES.classes} names the outputs.`,
    '### Node, with tfjs-distill',
    fence('js', entry('./student')),
    '### Browser, with tfjs-distill (bundled, or through an import map)',
    fence('html', `<script type="module">\n${entry('student/')}\n</script>`),
    '### Node, stock tfjs alone',
    fence('js', stockNode),
    '### Browser, stock tfjs alone (the `tf` global of @tensorflow/tfjs)',
    fence('js', stockBrowser),
  ].join('\n\n');
}

/** The model card (README.md) of a student folder, from the run's report and what the folder writer measured. */
export function modelCard(input: ModelCardInput): string {
  const { report, student, contract, classes } = input;
  const config = report.config as Record<string, unknown>;
  const layers = student.layers.map((layer) => layer.getClassName()).join(' → ');
  const teacher =
    report.teacher == null
      ? 'none evaluated'
      : 'imported' in report.teacher
        ? `imported logits (${percent(report.teacher.accuracy)} test accuracy)`
        : `${modelName(config.teacher)}: ${count.format(report.teacher.params)} parameters, ${percent(report.teacher.accuracy)} test accuracy`;
  const shownClasses = classes.length > 12 ? `${classes.slice(0, 12).join(', ')}, …` : classes.join(', ');
  const about = table(
    ['', ''],
    [
      ['model', `${modelName(config.student)}: ${layers}`],
      ['parameters', count.format(student.countParams())],
      ['input', inputLine(contract)],
      ['classes', `${classes.length}: ${shownClasses}`],
      ['teacher', teacher],
      [
        'data',
        `${modelName(config.data)}: ${count.format(report.data.trainRows)} training rows (${count.format(report.data.labeledRows)} with labels), ${count.format(report.data.testRows)} test rows`,
      ],
      ['test accuracy', percent(report.student.accuracy)],
      ['agreement with the teacher', report.student.agreement == null ? '–' : percent(report.student.agreement)],
    ],
  );
  const made = input.command ? fence('sh', input.command) : 'Made with `distill()` from the tfjs-distill library.';
  return [
    `# ${modelName(config.student)} student, distilled from ${modelName(config.teacher ?? config.teacherLogits)}`,
    'A classifier trained by knowledge distillation with tfjs-distill: the student learned from the teacher’s soft labels. ' +
      'Every number below was measured by the run that wrote this folder.',
    about,
    accuracySection(report),
    sizeSection(report, input.quantization),
    latencySection(input.folder),
    `## Made with\n\n${made}`,
    usageSection(contract),
  ]
    .join('\n\n')
    .concat('\n');
}
