import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { check, messageOf } from '../errors.js';

/**
 * A Hugging Face export of a classifier (as `optimum` writes it): the ONNX graph (`model.onnx`, or
 * `onnx/model.onnx`), the tokenizer files and `config.json`, read for what a run takes from it.
 */
export interface HuggingFaceExport {
  /** The ONNX file. */
  model: string;
  /** The folder of config.json and the tokenizer (the parent of an `onnx/` folder). */
  folder: string;
  /** The class names in output order (config.json's id2label), when it has them. */
  classes?: string[];
  /** The positions the model takes (config.json's max_position_embeddings, less RoBERTa's offset) and where that was read. */
  positions?: { count: number; where: string };
  /** The folder holding tokenizer.json, when there is one. */
  tokenizer?: string;
}

/** Model types whose positions start after the pad id (RoBERTa's layout): max_position_embeddings counts those too. */
const OFFSET_POSITIONS = new Set(['roberta', 'xlm-roberta', 'camembert', 'longformer', 'bart', 'mbart', 'xlm-roberta-xl']);

const isFolder = (path: string) => existsSync(path) && statSync(path).isDirectory();

/** The ONNX file of an export folder: model.onnx, else onnx/model.onnx; undefined when it has neither. */
export function onnxModelIn(folder: string): string | undefined {
  return [join(folder, 'model.onnx'), join(folder, 'onnx', 'model.onnx')].find((file) => existsSync(file));
}

/** Whether a teacher path is an ONNX export: an .onnx file, or a folder with one and no tfjs model.json. */
export function isOnnxExport(teacher: string): boolean {
  if (teacher.toLowerCase().endsWith('.onnx')) return true;
  return isFolder(teacher) && !existsSync(join(teacher, 'model.json')) && onnxModelIn(teacher) !== undefined;
}

/** config.json's id2label as class names in output order; undefined when it has none. */
function classesOf(config: Record<string, unknown>, file: string): string[] | undefined {
  const id2label = config.id2label;
  if (id2label === undefined || id2label === null) return undefined;
  const entries = typeof id2label === 'object' ? Object.entries(id2label as Record<string, unknown>) : [];
  const names = entries.map(([, name]) => name);
  const complete =
    entries.length >= 2 &&
    names.every((name) => typeof name === 'string' && name !== '') &&
    entries.every(([index]) => /^\d+$/.test(index) && Number(index) < entries.length) &&
    new Set(entries.map(([index]) => Number(index))).size === entries.length;
  check(complete, `${file}: id2label must map 0..N-1 to class names (N >= 2); fix it or remove it`, ['teacher']);
  return Array.from({ length: entries.length }, (_, index) => (id2label as Record<string, string>)[String(index)]);
}

/** The positions config.json gives, less the offset of the model types that count the pad id's positions. */
function positionsOf(config: Record<string, unknown>, file: string): HuggingFaceExport['positions'] {
  const count = config.max_position_embeddings;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) return undefined;
  const padId = typeof config.pad_token_id === 'number' ? config.pad_token_id : 1;
  const offset = OFFSET_POSITIONS.has(String(config.model_type)) ? padId + 1 : 0;
  return { count: count - offset, where: `max_position_embeddings in ${file}${offset ? `, less ${offset} for ${config.model_type}` : ''}` };
}

/**
 * What a teacher path holds of a Hugging Face export: for an .onnx file or an export folder, its config.json
 * (beside the graph, or above an `onnx/` folder) and tokenizer; undefined for any other teacher.
 */
export function readHuggingFaceExport(teacher: string): HuggingFaceExport | undefined {
  if (!isOnnxExport(teacher)) return undefined;
  const path = resolve(teacher);
  const model = isFolder(path) ? onnxModelIn(path)! : path;
  const beside = dirname(model);
  const folder = basename(beside) === 'onnx' && !existsSync(join(beside, 'config.json')) ? dirname(beside) : beside;
  const configFile = join(folder, 'config.json');
  let config: Record<string, unknown> = {};
  if (existsSync(configFile)) {
    try {
      config = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (error) {
      check(false, `${configFile} is not valid JSON (${messageOf(error)}); replace it with the file the model was exported with`, [
        'teacher',
      ]);
    }
  }
  return {
    model,
    folder,
    classes: classesOf(config, configFile),
    positions: positionsOf(config, configFile),
    tokenizer: existsSync(join(folder, 'tokenizer.json')) ? folder : undefined,
  };
}
