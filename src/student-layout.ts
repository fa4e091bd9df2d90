/**
 * The files of a shipped student folder, by name, relative to the folder. Free of Node built-ins: the
 * browser entry point, `predict` and the folder writer all name the files from here.
 */
export const STUDENT_FILES = {
  /** The float32 student (stock tfjs layers format) and its weights. */
  model: 'model.json',
  weights: 'weights.bin',
  /** The class names in output order. */
  classes: 'classes.json',
  /** The input contract (src/data/input-contract.ts). */
  preprocessing: 'preprocessing.json',
  /** The model card. */
  card: 'README.md',
  /** The ONNX export (--export onnx). */
  onnx: 'model.onnx',
} as const;

/**
 * Where earlier runs wrote the classes: `classes.json` beside the student folder, in the run's output folder.
 * Readers try the folder's own `classes.json` first, then this.
 */
export const LEGACY_CLASSES_PATH = '../classes.json';

/** The places a reader looks for a student folder's classes, relative to the folder, in order. */
export const CLASSES_PLACES: readonly string[] = [STUDENT_FILES.classes, LEGACY_CLASSES_PATH];

/** The folder inside the student folder that holds its `format` variant (`uint8/model.json`). */
export const variantSubfolder = (format: 'uint8' | 'uint16' | 'float16'): string => format;
