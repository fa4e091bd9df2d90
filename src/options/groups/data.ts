/** The data group (what the rows are and how they are split and shuffled) and the output group (where the outputs go, in which formats). */
import { listDataSources } from '../../data/data-source.js';
import { check } from '../../errors.js';
import {
  CLI_MODEL_DEFAULTS,
  EXPORT_FORMATS,
  type ExportFormat,
  QUANTIZE_CHOICES,
  type QuantizeChoice,
  defineOptions,
  isInt,
  isNumber,
} from '../schema.js';

const given = (key: string, message: string) => (value: unknown) => `${key} ${message}, got ${JSON.stringify(value)}`;

/** --image-size H,W. */
function parseImageSize(value: string): [number, number] {
  const parts = value.split(',').map(Number);
  check(
    parts.length === 2 && parts.every((n) => Number.isInteger(n) && n > 0),
    `--image-size expects H,W (two positive integers), got '${value}'`,
  );
  return parts as [number, number];
}

/** Points of test accuracy a quantised variant may lose before it is warned about: --max-quantize-drop's default. */
export const DEFAULT_MAX_QUANTIZE_DROP = 1;

/** --quantize uint8,float16 (and --export): each given value may be a comma list; the check names a bad one. */
const parseCommaList = (value: string): string[] => value.split(',').map((part) => part.trim());

/** The problem with a quantize list: a value that is not a format or auto, or auto with formats. */
function quantizeProblem(value: unknown): string | undefined {
  const choices = QUANTIZE_CHOICES.join(', ');
  if (!Array.isArray(value)) return `quantize must be a list of ${choices}, got ${JSON.stringify(value)}`;
  const unknown = value.find((item) => !QUANTIZE_CHOICES.includes(item as QuantizeChoice));
  if (unknown !== undefined) return `quantize '${unknown}' is not one of ${choices}`;
  if (value.includes('auto') && value.some((item) => item !== 'auto'))
    return `quantize auto chooses among ${QUANTIZE_CHOICES.filter((c) => c !== 'auto').join(', ')} itself; give auto alone, or formats without it`;
  return undefined;
}

/** The problem with an export list: a value that is not a format. */
function exportProblem(value: unknown): string | undefined {
  const formats = EXPORT_FORMATS.join(', ');
  if (!Array.isArray(value)) return `export must be a list of ${formats}, got ${JSON.stringify(value)}`;
  const unknown = value.find((item) => !EXPORT_FORMATS.includes(item as ExportFormat));
  return unknown === undefined ? undefined : `export '${unknown}' is not a format the student can be exported in; use ${formats}`;
}

/** --classes a,b,c and --features a,b,c. */
function parseColumns(value: string): string[] {
  return value.split(',').map((name) => name.trim());
}

/** What --augment takes: image shifts and flips in training, masked and n-gram copies of text rows. */
export interface AugmentSetting {
  shift?: number;
  flip?: boolean;
  mask?: number;
  ngram?: number;
}

/** --augment shift:N,flip (images) or mask:P,ngram:P (text); any part alone too. */
function parseAugment(value: string): AugmentSetting {
  const augment: AugmentSetting = {};
  for (const part of value.split(',')) {
    const [name, amount] = part.split(':');
    const number = Number(amount);
    if (name === 'shift' && /^\d+$/.test(amount ?? '')) augment.shift = number;
    else if (part === 'flip') augment.flip = true;
    else if ((name === 'mask' || name === 'ngram') && amount !== '' && number >= 0 && number <= 1) augment[name] = number;
    else
      check(
        false,
        `--augment expects shift:N and/or flip (images), or mask:P and/or ngram:P with P in [0, 1] (text), e.g. mask:0.1,ngram:0.25; got '${value}'`,
      );
  }
  return augment;
}

/** The problem with an augment setting, or undefined. */
function augmentProblem(augment: AugmentSetting | null): string | undefined {
  if (augment === null) return undefined;
  const probability = (p: unknown) => p === undefined || (isNumber(p) && p >= 0 && p <= 1);
  const fits =
    (augment.shift === undefined || isInt(augment.shift, 0)) &&
    (augment.flip === undefined || typeof augment.flip === 'boolean') &&
    probability(augment.mask) &&
    probability(augment.ngram);
  return fits
    ? undefined
    : `augment needs { shift?: an integer >= 0, flip?: true | false } (images) or { mask?, ngram?: probabilities in [0, 1] } (text), got ${JSON.stringify(augment)}`;
}

/** A field or column name: a non-empty string. */
const fieldCheck = (key: string) => (value: unknown) =>
  typeof value === 'string' && value !== '' ? undefined : given(key, 'must be a field name')(value);

export const DATA_OPTIONS = defineOptions({
  train: { group: 'data', scope: 'library', description: 'Training rows; rows labelled -1 form the unlabeled transfer set.' },
  test: { group: 'data', scope: 'library', description: 'Held-out rows every model is evaluated on; all must be labelled.' },
  teacherView: {
    group: 'data',
    scope: 'library',
    description:
      "The same rows as a teacher given as a file takes them (a table's raw values, NaN where missing), when train and test are standardised for the student.",
  },
  data: {
    group: 'data',
    scope: 'cli',
    description: `where the rows come from: ${listDataSources()
      .map(({ usage }) => usage)
      .join(', ')} (docs/teachers-and-data.md)`,
    default: 'mnist',
    check: (value) => (typeof value === 'string' && value !== '' ? undefined : given('data', 'must be a data source such as mnist')(value)),
    flags: [{ name: 'data', value: 'string', arg: 'SRC' }],
  },
  testData: {
    group: 'data',
    scope: 'cli',
    description: 'npy:X.npy,Y.npy, csv:FILE or text:FILE: the test split, instead of holding out testFraction',
    default: null,
    check: (value) => (value === null || typeof value === 'string' ? undefined : given('testData', 'must be a string')(value)),
    flags: [{ name: 'test-data', value: 'string', arg: 'SRC' }],
  },
  limit: {
    group: 'data',
    scope: 'cli',
    description: 'use only the first N training rows',
    default: null,
    check: (value) => (value === null || isInt(value, 1) ? undefined : given('limit', 'must be an integer >= 1')(value)),
    flags: [{ name: 'limit', value: 'int', arg: 'N' }],
  },
  testFraction: {
    group: 'data',
    scope: 'cli',
    description: 'csv, npy and text without testData: share of rows (text and csv: of the labelled rows) held out as the test split',
    default: null,
    shownDefault: String(CLI_MODEL_DEFAULTS.testFraction),
    check: (value) =>
      value === null || (isNumber(value) && value > 0 && value < 1) ? undefined : given('testFraction', 'must lie in (0, 1)')(value),
    flags: [{ name: 'test-fraction', value: 'number', arg: 'F' }],
  },
  imageSize: {
    group: 'data',
    scope: 'cli',
    description: 'images: resize every image to H x W',
    default: null,
    shownDefault: "the first image's size",
    check: (value) =>
      value === null || (Array.isArray(value) && value.length === 2 && value.every((n) => isInt(n, 1)))
        ? undefined
        : given('imageSize', 'must be [H, W]')(value),
    flags: [{ name: 'image-size', value: 'string', arg: 'H,W', parse: parseImageSize }],
  },
  channels: {
    group: 'data',
    scope: 'cli',
    description: 'images: 1 (greyscale) or 3 (RGB)',
    default: null,
    shownDefault: '1 if the first image is greyscale, else 3',
    check: (value) => (value === null || value === 1 || value === 3 ? undefined : given('channels', 'must be 1 or 3')(value)),
    flags: [{ name: 'channels', value: 'int', arg: 'C' }],
  },
  skipBadImages: {
    group: 'data',
    scope: 'cli',
    description: 'images: leave out images that cannot be decoded (counted) instead of stopping',
    default: false,
    check: (value) => (typeof value === 'boolean' ? undefined : given('skipBadImages', 'must be true or false')(value)),
    flags: [{ name: 'skip-bad-images', value: 'boolean' }],
  },
  tokenizer: {
    group: 'data',
    scope: 'cli',
    description: 'text: the Hugging Face tokenizer, a tokenizer.json or the folder that holds it (docs/text-tokenizers.md)',
    default: null,
    check: (value) =>
      value === null || (typeof value === 'string' && value !== '') ? undefined : given('tokenizer', 'must be a path')(value),
    flags: [{ name: 'tokenizer', value: 'string', arg: 'PATH' }],
  },
  maxLength: {
    group: 'data',
    scope: 'cli',
    description: 'text: the tokens a row keeps, special tokens included; longer texts are cut',
    default: null,
    shownDefault: "the tokenizer's truncation.max_length, else its model_max_length",
    check: (value) => (value === null || isInt(value, 1) ? undefined : given('maxLength', 'must be an integer >= 1')(value)),
    flags: [{ name: 'max-length', value: 'int', arg: 'N' }],
  },
  textField: {
    group: 'data',
    scope: 'cli',
    description: 'text: the field (JSONL) or column (CSV, TSV) of the text',
    default: 'text',
    check: fieldCheck('textField'),
    flags: [{ name: 'text-field', value: 'string', arg: 'NAME' }],
  },
  labelField: {
    group: 'data',
    scope: 'cli',
    description: 'text and csv: the field or column of the label (a class name or index; null, missing or "" is unlabeled)',
    default: null,
    shownDefault: 'text: label; csv: a column named label, target or class, else the first',
    check: (value) => (value === null ? undefined : fieldCheck('labelField')(value)),
    flags: [{ name: 'label-field', value: 'string', arg: 'NAME' }],
  },
  textPairField: {
    group: 'data',
    scope: 'cli',
    description: "text: the field or column of a sentence pair's second text, encoded as the tokenizer's pair",
    default: null,
    shownDefault: 'none (single texts)',
    check: (value) => (value === null ? undefined : fieldCheck('textPairField')(value)),
    flags: [{ name: 'text-pair-field', value: 'string', arg: 'NAME' }],
  },
  features: {
    group: 'data',
    scope: 'cli',
    description: 'csv with a header row: the feature columns, in the order the models take them',
    default: null,
    shownDefault: 'every named column but the label',
    check: (value) =>
      value === null || (Array.isArray(value) && value.length >= 1 && value.every((name) => typeof name === 'string' && name !== ''))
        ? undefined
        : given('features', 'must be one or more column names')(value),
    flags: [{ name: 'features', value: 'string', arg: 'A,B,...', parse: parseColumns }],
  },
  classes: {
    group: 'data',
    scope: 'cli',
    description: 'text and csv: the class names in output order (a label is one of them, or an index)',
    default: null,
    shownDefault: 'the sorted labels, with a notice naming the order',
    check: (value) =>
      value === null ||
      (Array.isArray(value) &&
        value.length >= 2 &&
        value.every((name) => typeof name === 'string' && name !== '') &&
        new Set(value).size === value.length)
        ? undefined
        : given('classes', 'must be two or more distinct class names')(value),
    flags: [{ name: 'classes', value: 'string', arg: 'A,B,...', parse: parseColumns }],
  },
  augment: {
    group: 'data',
    description:
      'images: shift:N (random shifts of up to N pixels) and/or flip (horizontal), drawn per row and step in training; ' +
      'text: augmentCopies copies of every training row join the transfer set, each token masked with probability mask:P ' +
      'and each copy cut to a random 1- to 5-token n-gram with probability ngram:P, e.g. mask:0.1,ngram:0.25 (docs/text-augmentation.md)',
    default: null,
    shownDefault: 'none',
    keys: { shift: null, flip: null, mask: null, ngram: null },
    check: augmentProblem,
    flags: [{ name: 'augment', value: 'string', arg: 'SPEC', parse: parseAugment }],
  },
  augmentCopies: {
    group: 'data',
    scope: 'cli',
    description: 'text with augment mask or ngram: the augmented copies of each training row',
    default: null,
    shownDefault: '1',
    check: (value) => (value === null || isInt(value, 1) ? undefined : given('augmentCopies', 'must be an integer >= 1')(value)),
    flags: [{ name: 'augment-copies', value: 'int', arg: 'N' }],
  },
  seed: {
    group: 'data',
    description: 'seed of every shuffle and of the built models; the same seed, workers and BLAS threads reproduce a run',
    default: 1,
    check: (value) => (Number.isInteger(value) ? undefined : `seed must be an integer, got ${value}`),
    flags: [{ name: 'seed', value: 'int', arg: 'N', help: 'seed of the shuffles and the built models' }],
  },
  out: {
    group: 'output',
    scope: 'cli',
    description: 'where teacher/, student/ and report.json go; DIR/.checkpoint holds the run state until it ends',
    default: 'distill-out',
    check: (value) => (typeof value === 'string' && value !== '' ? undefined : given('out', 'must be a folder')(value)),
    flags: [{ name: 'out', value: 'string', arg: 'DIR' }],
  },
  quantize: {
    group: 'output',
    scope: 'cli',
    description:
      'also write the student with quantised weights, each as DIR/student-FORMAT/ that stock tfjs loads, measured on the test ' +
      'rows; auto: only the smallest variant within maxQuantizeDrop',
    default: [],
    shownDefault: 'none',
    check: quantizeProblem,
    flags: [
      {
        name: 'quantize',
        value: 'string',
        arg: 'FORMAT',
        multiple: true,
        parse: parseCommaList,
        help: `write a quantised variant of the student: ${QUANTIZE_CHOICES.join(', ')} (repeatable, or a comma list; auto: the smallest within --max-quantize-drop)`,
      },
    ],
  },
  export: {
    group: 'output',
    scope: 'cli',
    description:
      'also write the student in these formats (onnx: DIR/student/model.onnx, opset 13, for onnxruntime; onnx-uint8: ' +
      'DIR/student/model-uint8.onnx, its kernels stored as uint8), each run on the test rows and compared with tfjs; an ' +
      'architecture that cannot be exported stops the run before training',
    default: [],
    shownDefault: 'none',
    check: exportProblem,
    flags: [
      {
        name: 'export',
        value: 'string',
        arg: 'FORMAT',
        multiple: true,
        parse: parseCommaList,
        help: `write the student in another format too: ${EXPORT_FORMATS.join(', ')} (repeatable, or a comma list)`,
      },
    ],
  },
  maxQuantizeDrop: {
    group: 'output',
    scope: 'cli',
    description:
      'test accuracy, in percentage points, a quantised variant (student/uint8/ and the others, and the onnx-uint8 export) may lose ' +
      'against the float32 student before it is warned about (and auto passes it over)',
    default: DEFAULT_MAX_QUANTIZE_DROP,
    check: (value) => (isNumber(value) && value >= 0 ? undefined : given('maxQuantizeDrop', 'must be a number of points >= 0')(value)),
    flags: [{ name: 'max-quantize-drop', value: 'number', arg: 'P' }],
  },
});
