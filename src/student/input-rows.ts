/**
 * The input contract (`preprocessing.json`) applied to raw inputs: image pixels, table cells and plain
 * vectors become the float32 rows the student takes. Texts are in text-rows.ts, which needs the tokenizer.
 */
import type { ImageContract, InputContract, TableContract } from '../data/input-contract.js';
import { INPUT_CONTRACT_VERSION } from '../data/input-contract.js';
import { check } from '../errors.js';

/** What a browser's canvas gives (`ctx.getImageData`): RGBA pixels, 4 bytes each. */
export interface ImageDataLike {
  readonly data: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

/** An image: height x width x channels pixels 0..255 (row-major, channels last), or a canvas's ImageData. */
export type ImageInput = Uint8Array | Uint8ClampedArray | readonly number[] | ImageDataLike;

/** A table row: each column's value by name; `null`, `''`, `NA` or `NaN` is a missing cell. */
export type TableInput = Readonly<Record<string, number | string | null | undefined>>;

/** A text, or a sentence pair. */
export type TextInput = string | { readonly text: string; readonly pair?: string };

/** A row the model takes as it is (a vector contract). */
export type VectorInput = Float32Array | readonly number[];

/** What `predict` takes, by contract kind. */
export type StudentInput = ImageInput | TableInput | TextInput | VectorInput;

const KINDS = ['image', 'table', 'text', 'vector'];

/** Checks a parsed `preprocessing.json` and returns it typed; `source` names the file in messages. */
export function checkInputContract(value: unknown, source: string): InputContract {
  const contract = value as Partial<InputContract> | null;
  check(
    typeof contract === 'object' && contract !== null && contract.format === 'tfjs-distill/preprocessing',
    `${source} is not a tfjs-distill preprocessing.json; copy the one the run wrote into the student folder`,
  );
  check(
    typeof contract.version === 'number' && contract.version <= INPUT_CONTRACT_VERSION,
    `${source} has version ${contract.version}, newer than this tfjs-distill reads (${INPUT_CONTRACT_VERSION}); upgrade tfjs-distill`,
  );
  check(KINDS.includes(contract.kind as string), `${source} has an unknown kind ${String(contract.kind)}; upgrade tfjs-distill`);
  check(
    Array.isArray(contract.inputShape) && contract.inputShape.every((d) => Number.isInteger(d) && d > 0),
    `${source} has no inputShape; copy the one the run wrote into the student folder`,
  );
  return contract as InputContract;
}

/** The values of one row the contract makes. */
export function rowWidth(contract: InputContract): number {
  return contract.inputShape.reduce((a, b) => a * b, 1);
}

const isImageData = (input: unknown): input is ImageDataLike =>
  typeof input === 'object' && input !== null && 'data' in input && 'width' in input && 'height' in input;

/** One image's pixels, `(pixel * scale - mean[c]) / std[c]`, into `row`. `where` names the input in messages. */
export function imageRow(contract: ImageContract, input: ImageInput, row: Float32Array, where: string): void {
  const { height, width, channels, scale, mean, std } = contract;
  const size = `${height}x${width}x${channels}`;
  const value = (pixel: number, c: number) => (pixel * scale - (mean?.[c] ?? 0)) / (std?.[c] ?? 1);
  if (isImageData(input)) {
    check(
      input.width === width && input.height === height,
      `${where} is a ${input.width}x${input.height} image, but the student takes ${width}x${height}; resize it first (drawImage onto a ${width}x${height} canvas)`,
      ['inputs'],
    );
    // RGBA to the contract's channels: grey is the luma of the colour, as image decoders compute it.
    for (let p = 0; p < width * height; p++) {
      const [r, g, b] = [input.data[4 * p], input.data[4 * p + 1], input.data[4 * p + 2]];
      if (channels === 1) row[p] = value(Math.round(0.299 * r + 0.587 * g + 0.114 * b), 0);
      else for (let c = 0; c < 3; c++) row[3 * p + c] = value([r, g, b][c], c);
    }
    return;
  }
  const pixels = input as ArrayLike<number>;
  check(
    typeof pixels.length === 'number' && pixels.length === height * width * channels,
    `${where} has ${pixels.length} pixel values, but the student takes ${size} = ${height * width * channels}; give images of that size (resize them, or convert the channels)`,
    ['inputs'],
  );
  for (let i = 0; i < pixels.length; i++) row[i] = value(Number(pixels[i]), i % channels);
}

const isMissing = (cell: unknown) =>
  cell === null || cell === undefined || cell === '' || cell === 'NA' || cell === 'NaN' || (typeof cell === 'number' && Number.isNaN(cell));

/** One table row's cells, standardised, then the missing-value indicators, into `row`. */
export function tableRow(contract: TableContract, input: TableInput, row: Float32Array, where: string): void {
  const { columns, mean, std, missing, indicators = [] } = contract;
  check(typeof input === 'object' && input !== null, `${where} is not an object of column values; give { ${columns[0]}: ..., ... }`, [
    'inputs',
  ]);
  columns.forEach((column, i) => {
    check(column in input, `${where} has no column '${column}'; give every column the student takes: ${columns.join(', ')}`, ['inputs']);
    const cell = input[column];
    if (isMissing(cell)) {
      check(
        missing === 'mean-and-indicator',
        `${where} has no value for '${column}', and the student was trained without missing values; fill it in`,
        ['inputs'],
      );
      row[i] = 0;
    } else {
      const number = typeof cell === 'number' ? cell : Number(String(cell).trim());
      check(Number.isFinite(number), `${where}: '${column}' is ${JSON.stringify(cell)}, not a number; give a number (or leave it empty)`, [
        'inputs',
      ]);
      row[i] = (number - mean[i]) / std[i];
    }
  });
  indicators.forEach((column, i) => {
    row[columns.length + i] = isMissing(input[column]) ? 1 : 0;
  });
}

/** A row given as numbers, copied into `row`. */
export function vectorRow(width: number, input: VectorInput, row: Float32Array, where: string): void {
  check(
    input !== null && typeof input === 'object' && (input as ArrayLike<number>).length === width,
    `${where} has ${(input as ArrayLike<number>)?.length} values, but the student takes ${width}; give rows of that length`,
    ['inputs'],
  );
  for (let i = 0; i < width; i++) row[i] = Number(input[i]);
}
