import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCsv } from '../dist/data/csv.js';
import { loadDataSource, teacherSplits } from '../dist/data/data-source.js';
import { applyTableContract } from '../dist/data/table/table-contract.js';
import { failure } from './helpers/failure.js';
import type { TableContract } from '../dist/data/input-contract.js';

const FIXTURES = new URL('./fixtures/tabular/', import.meta.url).pathname;
const WEATHER_TRAIN = join(FIXTURES, 'weather-train.csv');
const WEATHER_TEST = join(FIXTURES, 'weather-test.csv');
const PENGUINS = join(FIXTURES, 'penguins.csv');
const WEATHER_FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind'];
const PENGUIN_FEATURES = ['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)'];

const work = mkdtempSync(join(tmpdir(), 'tabular-data-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Writes `content` to a file of the work folder and returns its path. */
function file(name: string, content: string): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

const load = (path: string, extra: Record<string, unknown> = {}) =>
  loadDataSource({ source: `csv:${path}`, testFraction: 0.25, seed: 1, ...extra });
const weather = (extra: Record<string, unknown> = {}) =>
  load(WEATHER_TRAIN, { testSource: `csv:${WEATHER_TEST}`, features: WEATHER_FEATURES, labelField: 'weather', ...extra });

/** A file's rows as cells, the header row first, read here by hand (the fixtures have no quotes). */
const cellsOf = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(','));

/** Each column's population mean and standard deviation over the rows of `x` (rows x width), NaN left out. */
function columnStats(x: Float32Array, width: number): { mean: number[]; std: number[] } {
  const columns = Array.from({ length: width }, (_, c) => Array.from(x.filter((_, i) => i % width === c && !Number.isNaN(x[i]))));
  const mean = columns.map((values) => values.reduce((a, b) => a + b, 0) / values.length);
  const std = columns.map((values, c) => Math.sqrt(values.reduce((a, b) => a + (b - mean[c]) ** 2, 0) / values.length));
  return { mean, std };
}

describe('data csv:FILE with a header row (tables)', () => {
  it('weather: named columns, class names in sorted order, the raw rows for the teacher, standardised rows for the student', async () => {
    const splits = await weather();
    expect(splits.classes).toEqual(['drizzle', 'fog', 'rain', 'snow', 'sun']);
    expect(splits.notices).toEqual(['class order from the sorted labels: drizzle, fog, rain, snow, sun (classes sets another)']);
    expect([splits.train.shape, splits.test.shape]).toEqual([
      [1000, 4],
      [461, 4],
    ]);
    const teacher = teacherSplits(splits);
    // The teacher's rows are the file's cells, in order, as float32; the labels are the class indices of the names.
    const [header, ...rows] = cellsOf(WEATHER_TRAIN);
    const columns = WEATHER_FEATURES.map((name) => header.indexOf(name));
    expect(Array.from(teacher.train.x.subarray(0, 8))).toEqual(
      rows.slice(0, 2).flatMap((row) => columns.map((c) => Math.fround(Number(row[c])))),
    );
    expect(Array.from(teacher.train.y)).toEqual(rows.map((row) => splits.classes!.indexOf(row[5])));
    expect(Array.from(teacher.test.y)).toEqual(Array.from(splits.test.y));
    // Standardised with the training rows' statistics only, the test rows included.
    const { mean, std } = columnStats(teacher.train.x as Float32Array, 4);
    const contract = splits.contract as TableContract;
    expect(contract).toMatchObject({
      kind: 'table',
      columns: WEATHER_FEATURES,
      inputShape: [4],
      missing: 'none',
      format: 'tfjs-distill/preprocessing',
    });
    contract.mean.forEach((value, c) => expect(value).toBeCloseTo(mean[c], 9));
    contract.std.forEach((value, c) => expect(value).toBeCloseTo(std[c], 9));
    for (const [student, raw] of [
      [splits.train, teacher.train],
      [splits.test, teacher.test],
    ]) {
      raw.x.forEach((value, i) => expect(student.x[i]).toBeCloseTo((value - mean[i % 4]) / std[i % 4], 5));
    }
    // The standardised training rows have mean 0 and standard deviation 1.
    const standardised = columnStats(splits.train.x as Float32Array, 4);
    standardised.mean.forEach((value) => expect(value).toBeCloseTo(0, 5));
    standardised.std.forEach((value) => expect(value).toBeCloseTo(1, 5));
  });

  it('the statistics come from the training rows alone: other test rows, or a held-out share, leave them unchanged', async () => {
    const wild = file(
      'wild-test.csv',
      ['weather,wind,temp_min,temp_max,precipitation', 'sun,900,-500,800,1000', 'rain,0,0,0,0', 'fog,1,2,3,4'].join('\n'),
    );
    const [given, other] = await Promise.all([weather(), weather({ testSource: `csv:${wild}` })]);
    expect(other.contract).toEqual(given.contract);
    // Columns are found by name in each file: the test file's order does not matter.
    expect(Array.from(teacherSplits(other).test.x.subarray(0, 4))).toEqual([1000, 800, -500, 900]);
    // A held-out share: the statistics of the rows that stay, not of the whole file.
    const held = await load(WEATHER_TRAIN, { features: WEATHER_FEATURES, labelField: 'weather' });
    expect([held.train.shape[0], held.test.shape[0]]).toEqual([750, 250]);
    const kept = columnStats(teacherSplits(held).train.x as Float32Array, 4);
    const whole = columnStats(teacherSplits(given).train.x as Float32Array, 4);
    (held.contract as TableContract).mean.forEach((value, c) => expect(value).toBeCloseTo(kept.mean[c], 9));
    expect((held.contract as TableContract).mean[0]).not.toBeCloseTo(whole.mean[0], 3);
    // limit: the statistics of the rows the run keeps.
    const limited = await weather({ limit: 100 });
    expect([limited.train.shape[0], teacherSplits(limited).train.shape[0]]).toEqual([100, 100]);
    const first = columnStats(teacherSplits(given).train.x.subarray(0, 400) as Float32Array, 4);
    (limited.contract as TableContract).mean.forEach((value, c) => expect(value).toBeCloseTo(first.mean[c], 9));
  });

  it('penguins: NA cells are NaN for the teacher; the student gets the training mean and an is-missing input per column', async () => {
    const splits = await load(PENGUINS, { features: PENGUIN_FEATURES, testFraction: 0.2 });
    expect(splits.classes).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
    const contract = splits.contract as TableContract;
    expect(contract).toMatchObject({ missing: 'mean-and-indicator', indicators: PENGUIN_FEATURES, inputShape: [8] });
    expect(splits.train.shape[1]).toBe(8);
    const teacher = teacherSplits(splits);
    expect(teacher.train.shape[1]).toBe(4);
    const { mean } = columnStats(teacher.train.x as Float32Array, 4);
    contract.mean.forEach((value, c) => expect(value).toBeCloseTo(mean[c], 9));
    let missingRows = 0;
    for (const [student, raw] of [
      [splits.train, teacher.train],
      [splits.test, teacher.test],
    ]) {
      for (let row = 0; row < raw.shape[0]; row++) {
        const cells = Array.from(raw.x.subarray(row * 4, row * 4 + 4));
        const inputs = Array.from(student.x.subarray(row * 8, row * 8 + 8));
        if (cells.some(Number.isNaN)) missingRows++;
        expect(inputs.slice(4)).toEqual(cells.map((value) => (Number.isNaN(value) ? 1 : 0)));
        cells.forEach((value, c) => {
          if (Number.isNaN(value)) expect(inputs[c]).toBe(0);
        });
      }
    }
    expect(missingRows).toBe(2); // the two rows of the file whose measurements are all NA
    expect(splits.notices).toEqual([
      "label column 'Species', chosen by its name or as the first (labelField sets another)",
      'class order from the sorted labels: Adelie, Chinstrap, Gentoo (classes sets another)',
      expect.stringMatching(
        /penguins\.csv: training rows with missing cells in Beak Length \(mm\) \(\d\), .*Body Mass \(g\) \(\d\): a teacher given/,
      ),
    ]);
  });

  it('refuses a text column among the features, naming the line and the column', async () => {
    expect(await failure(load(PENGUINS))).toMatch(
      /penguins\.csv line 2, column 'Island': 'Torgersen' is not a number; a feature column holds numbers \(empty, NA or NaN when missing\): leave the column out of features \(without features, every column but the label is one\) or fix the cell$/,
    );
    const sex = [...PENGUIN_FEATURES, 'Sex'];
    expect(await failure(load(PENGUINS, { features: sex }))).toMatch(
      /penguins\.csv line 2, column 'Sex': 'MALE' is not a number; .* leave the column out of features or fix the cell$/,
    );
    expect(await failure(load(WEATHER_TRAIN, { labelField: 'weather' }))).toMatch(
      /weather-train\.csv line 2, column 'date': '2014-08-12' is not a number/,
    );
  });

  it('the label column: labelField, else label, target or class in any case, else the first; an empty label is unlabeled', async () => {
    const byName = async (header: string) => {
      const path = file('named.csv', `${header}\n1,0,2\n3,1,4\n`);
      const table = await loadCsv(path);
      return [Array.from(table.x), Array.from(table.y)];
    };
    expect(await byName('a,Target,b')).toEqual([
      [1, 2, 3, 4],
      [0, 1],
    ]);
    expect(await byName('class,x,label')).toEqual([
      [1, 0, 3, 1],
      [2, 4],
    ]);
    const first = file('first.csv', 'kind,x\nb,1\na,2\n,3\n');
    const splits = await load(first, { testSource: `csv:${file('first-test.csv', 'x,kind\n5,a\n6,b\n')}` });
    expect(Array.from(splits.train.y)).toEqual([1, 0, -1]);
    expect(Array.from(teacherSplits(splits).test.x)).toEqual([5, 6]);
    expect(await failure(loadCsv(first, { labelField: 'x', features: ['x'] }))).toBe(
      "features names 'x', the label column; leave it out of features or set labelField",
    );
    expect(await failure(load(first, { labelField: 'y' }))).toMatch(
      /first\.csv has no column 'y' \(its columns: kind, x\); set labelField to the column of the labels$/,
    );
    expect(await failure(load(first, { testSource: `csv:${file('unlabeled-test.csv', 'kind,x\na,1\n,2\n')}` }))).toMatch(
      /unlabeled-test\.csv line 3 has no label, but every test row needs one; label it or leave it out$/,
    );
  });

  it('classes sets the order, and a label outside it is an error; labels may be class indices', async () => {
    const path = file('names.csv', 'label,x\nb,1\na,2\nc,3\na,4\n');
    const ordered = await load(path, { classes: ['c', 'b', 'a'], testSource: `csv:${path}` });
    expect([ordered.classes, Array.from(ordered.train.y), ordered.notices]).toEqual([
      ['c', 'b', 'a'],
      [1, 2, 0, 2],
      ["label column 'label', chosen by its name or as the first (labelField sets another)"],
    ]);
    expect(await failure(load(path, { classes: ['a', 'b'], testSource: `csv:${path}` }))).toMatch(
      /names\.csv line 4: the label "c" is not one of classes \(a, b\); add it there or fix the line$/,
    );
    const indices = await loadCsv(file('indices.csv', 'x,label\n1,2\n2,0\n'));
    expect([Array.from(indices.y), indices.numClasses]).toEqual([[2, 0], 3]);
  });

  it('reads TSV, quoted CSV fields and files larger than a read chunk, as a stream', async () => {
    const tsv = await loadCsv(file('rows.tsv', 'label\ta b\tc\nx\t1\t2\ny\tNA\t4\n'));
    expect([Array.from(tsv.x), Array.from(tsv.y)]).toEqual([
      [1, 2, Number.NaN, 4],
      [0, 1],
    ]);
    const rows = Array.from(
      { length: 20_000 },
      (_, i) => `${i % 3 === 0 ? '"a, ""quoted""\nname"' : 'b'},${i},${i % 7 === 0 ? 'NaN' : -i}`,
    );
    const big = await loadCsv(file('big.csv', ['label,x,"y, too"', ...rows].join('\r\n')));
    expect(big.shape).toEqual([20_000, 2]);
    expect(Array.from(big.x.subarray(2 * 14_000, 2 * 14_001 + 2))).toEqual([14_000, Number.NaN, 14_001, -14_001]);
    expect(Array.from(big.y.subarray(0, 4))).toEqual([0, 1, 1, 0]);
  });

  it('refuses bad tables with one line naming the fix', async () => {
    const bad = (name: string, content: string, extra: Record<string, unknown> = {}) => failure(load(file(name, content), extra));
    expect(await bad('numeric-name.csv', 'label,x,3\n1,3,4\n0,1,2\n')).toMatch(
      /numeric-name\.csv line 1 has the text 'label', so it is the header row, but its cell '3' is a number; name every column in the header, or give a file without one/,
    );
    expect(await bad('twice.csv', 'label,x,x\n1,3,4\n')).toMatch(
      /twice\.csv line 1: the header names column 2 and 3 'x'; give each column its own name$/,
    );
    expect(await bad('no-feature.csv', 'x,label\n1,a\n', { features: ['y'] })).toMatch(
      /no-feature\.csv has no column 'y' \(its columns: x, label\); fix features$/,
    );
    expect(await bad('dup-feature.csv', 'x,label\n1,a\n', { features: ['x', 'x'] })).toBe(
      "features names 'x' twice; give each feature column once",
    );
    expect(await bad('infinite.csv', 'label,x\na,1\nb,inf\n')).toMatch(
      /infinite\.csv line 3, column 'x': 'inf' is not finite; a feature needs a finite number \(empty, NA or NaN when missing\)$/,
    );
    expect(await bad('ragged.csv', 'label,x,y\na,1,2\nb,1\n')).toMatch(
      /ragged\.csv line 3: 2 columns, but line 1 \(the header\) has 3; every row needs a cell for each column of the header$/,
    );
    expect(
      await bad('empty-column.csv', 'label,x,y\na,1,\nb,2,NA\n', {
        testSource: `csv:${file('empty-test.csv', 'label,x,y\na,1,2\nb,2,3\n')}`,
      }),
    ).toBe("column 'y' has no value in the training rows; leave it out of features");
    expect(await bad('one-column.csv', 'label\na\nb\n')).toMatch(
      /one-column\.csv has no column besides the label 'label'; a row needs at least one feature$/,
    );
    expect(await bad('header-only.csv', 'label,x\n')).toMatch(/header-only\.csv has a header but no data rows/);
    // Names choose columns only in a file whose header names them.
    expect(await bad('plain.csv', '0,1\n1,2\n', { features: ['a'] })).toMatch(
      /^features names columns, but .*plain\.csv has no header row \(its first line is all numbers\); add a header naming the columns, or leave out features$/,
    );
    const plain = file('plain-train.csv', '0,1\n1,2\n');
    expect(await bad('header-test.csv', 'label,x\n0,1\n1,2\n', { testSource: `csv:${plain}` })).toMatch(
      /header-test\.csv has a header row and .*plain-train\.csv has none; give both files the same form$/,
    );
  });

  it('a student trained without missing cells refuses one; an older headerless file stays as given, without a contract', async () => {
    const splits = await weather();
    const row = new Float32Array([1, Number.NaN, 3, 4]);
    expect(() => applyTableContract(splits.contract as TableContract, row, 1)).toThrow(
      "table row 1, column 'temp_max' is missing, but the student was trained without missing values; fill the cell",
    );
    const plain = await load(file('headerless.csv', '0,1.5,2\n1,2.5,3\n2,3.5,4\n1,4.5,5\n'));
    expect([plain.contract, plain.teacherView, plain.train.shape, plain.test.shape]).toEqual([undefined, undefined, [3, 2], [1, 2]]);
    expect(teacherSplits(plain).train).toBe(plain.train);
  });
});
