// To add a data source: create a file in this folder exporting a DataSourceEntry (see source-entry.ts;
// idx.ts is a small one), and add it to DATA_SOURCES below. loadDataSource, absoluteSource, the testData
// check and the listings then know it; a setting no source read before also needs its DataSourceOptions field.
import { csvSource } from './csv.js';
import { idxSource } from './idx.js';
import { imagesSource } from './images.js';
import { mnistSource } from './mnist.js';
import { npySource } from './npy.js';
import type { DataSourceEntry, DataSourceSetting } from './source-entry.js';
import { textSource } from './text.js';

/** Every data source kind, in the order listings show them. */
export const DATA_SOURCES: readonly DataSourceEntry[] = [mnistSource, idxSource, csvSource, npySource, imagesSource, textSource];

/** One kind as listings show it (--help, docs, errors). */
export interface DataSourceListing {
  kind: string;
  usage: string;
  description: string;
  settings: readonly DataSourceSetting[];
}

/** Every registered data source kind, for --help, generated docs and errors. */
export function listDataSources(): DataSourceListing[] {
  return DATA_SOURCES.map(({ kind, usage, description, settings }) => ({ kind, usage, description, settings }));
}

/** The kind a source names and what follows `kind:`, or undefined: `mnist` names mnist, `csv:a.csv` names csv. */
export function dataSourceOf(source: string): { entry: DataSourceEntry; argument: string } | undefined {
  const colon = source.indexOf(':');
  const kind = colon < 0 ? source : source.slice(0, colon);
  const entry = DATA_SOURCES.find((candidate) => candidate.kind === kind);
  if (!entry || (entry.argument === 'none') !== colon < 0) return undefined;
  return { entry, argument: colon < 0 ? '' : source.slice(colon + 1) };
}

/** Whether the source's kind reads a setting (false for a source no kind loads). */
export function dataSourceReads(source: string, setting: DataSourceSetting): boolean {
  return dataSourceOf(source)?.entry.settings.includes(setting) ?? false;
}

/** `a, b, c or d` (or `and`). */
const joinedList = (items: string[], last = 'or') =>
  items.length > 1 ? `${items.slice(0, -1).join(', ')} ${last} ${items.at(-1)}` : items.join('');

/** The one-line error for a source no kind loads, listing every kind's usage. */
export function unknownDataSourceMessage(source: string): string {
  return `unknown data '${source}': use ${joinedList(DATA_SOURCES.map((entry) => entry.usage))}`;
}

/** The one-line error for testData with a source that comes with its own test split. */
export function testSourceMessage(): string {
  const kinds = DATA_SOURCES.filter((entry) => entry.settings.includes('testSource')).map((entry) => `${entry.kind}:`);
  return `testData applies to data ${joinedList(kinds, 'and')} sources; the others come with their own test split`;
}
