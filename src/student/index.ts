/**
 * `tfjs-distill/student`: loads a student folder a run wrote and predicts with it, in browsers and in Node.
 * Nothing here imports a Node built-in, piscina or onnxruntime (scripts/check-layers.mjs and
 * test/student-entry.test.ts check it): a web page bundles it with @tensorflow/tfjs alone.
 */
export type {
  ImageContract,
  InputContract,
  InputContractBase,
  TableContract,
  TextContract,
  VectorContract,
} from '../data/input-contract.js';
export { INPUT_CONTRACT_VERSION } from '../data/input-contract.js';
export type { FolderFiles } from './folder-files.js';
export type { ImageDataLike, ImageInput, StudentInput, TableInput, TextInput, VectorInput } from './input-rows.js';
export { checkInputContract } from './input-rows.js';
export type { TextRows } from './text-rows.js';
export {
  type LoadStudentOptions,
  STUDENT_VARIANTS,
  Student,
  type StudentPrediction,
  type StudentVariant,
  loadStudent,
} from './student.js';
