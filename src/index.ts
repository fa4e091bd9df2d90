/**
 * tfjs-distill: knowledge distillation for TensorFlow.js on multi-core machines.
 *
 * ```ts
 * import { distill, loadIdx, buildModel } from 'tfjs-distill';
 * const train = await loadIdx('/usr/share/datasets/fashion-mnist', 'train');
 * const test = await loadIdx('/usr/share/datasets/fashion-mnist', 'test');
 * const { student, report } = await distill({ teacher: 'runs/teacher/model.json', student, train, test });
 * ```
 */
export { distill, type DistillResult } from './distill/distill.js';
export {
  DEFAULTS,
  TEXT_DEFAULTS,
  type DistillConfig,
  type DistillOptions,
  type PhaseTrainingOptions,
  type TeacherRuntime,
} from './options/options.js';
export type { ExportFormat, QuantizeChoice, QueueSettings } from './options/schema.js';
export type { TeacherRuntimeUsed } from './teachers/teacher-runtime.js';
export { label, shardFile, shardRows, type LabelOptions, type LabelResult, type ShardSpec } from './labelling/label.js';
export { DEFAULT_SWEEP_VALIDATION, sweep, type SweepOptions, type SweepResult } from './sweep/sweep.js';
export type { SweepQueueOptions } from './sweep/queue-trials.js';
export { runTrialJob } from './sweep/trial-job.js';
export {
  DISTILLATION_DEFAULTS,
  LABELLED_SHARE_FOR_LABEL_DEFAULTS,
  distillationDefaults,
  type DistillationDefaults,
} from './options/labelled-defaults.js';
export { checkGrid, gridPoints, gridSize, parseGridFlags, type SweepGrid } from './sweep/grid.js';
export { SCHEDULE_CHOICES, type ScheduleChoice } from './sweep/schedule.js';
export { leaderboard } from './sweep/leaderboard.js';
export { chooseBest, sweepNotices } from './sweep/sweep-findings.js';
export {
  SWEEP_REPORT_VERSION,
  type SweepBaseline,
  type SweepModelResult,
  type ScheduleMeasurement,
  type SweepReport,
  type SweepTrial,
} from './sweep/sweep-report.js';
export { DEFAULT_JOB_ROWS, labelOnQueue, type QueueLabelOptions, type QueueLabelResult } from './queue/queue.js';
export {
  DEFAULT_STALL_SECONDS,
  serveLabelQueue,
  type LabelWorkerOptions,
  type LabelWorkerResult,
  type TrialJobRunner,
  type TrialJobTools,
} from './queue/queue-worker.js';
export type { TrialJobHeader } from './queue/queue-connection.js';
export { DEFAULT_QUEUE_TIMEOUT_SECONDS } from './options/groups/runtime.js';
export type {
  ArtifactReport,
  BaselineReport,
  DistillReport,
  EnsembleReport,
  OnnxExportReport,
  QuantizationReport,
  RestartReport,
  SelectionReport,
  SoftLabelReport,
  StudentFolderReport,
  StudentReport,
  TeacherCheckReport,
  TeacherMemberReport,
  TeacherReport,
  TrainingPhaseReport,
} from './reports/report.js';
export { reportHtml } from './reports/report-html.js';
export { sweepHtml } from './sweep/sweep-html.js';
export { type ParetoPoint, paretoFront } from './sweep/pareto.js';
export {
  readStudentClasses,
  type StudentArtifactWriter,
  type StudentFolderOptions,
  type StudentFolderResult,
  writeStudentFolder,
} from './distill/student-folder.js';
export { CLASSES_PLACES, LEGACY_CLASSES_PATH, STUDENT_FILES, variantSubfolder } from './student-layout.js';
export type { EpochRecord, EvaluationRecord, HistoryRecord, Phase, ProgressEvent, TrainingPhase, ValidationMetrics } from './progress.js';
export type { ModelReport } from './infer/evaluate.js';
export { type MeasureOnce, measuredOnce } from './distill/measure-once.js';
export { type ClassScores, type ClassificationScores, classificationScores } from './infer/class-scores.js';
export { NEAR_CHANCE_SHARE, WEAK_TEACHER_MARGIN } from './distill/teacher-check.js';
export { ENSEMBLE_COMBINATIONS, type EnsembleCombination } from './infer/predictor.js';
export type { TeacherInput, TeacherModelInput } from './teachers/open-teacher.js';
export type { StepBreakdown } from './train/data-parallel.js';
export type { OptimizerSpec } from './train/optimizers.js';
export type { CheckpointOptions } from './train/checkpoint.js';
export type { NonFinitePolicy, SelectionMetric } from './train/replica.js';
export type { LrSchedule } from './train/lr-schedule.js';

export { type Dataset, keepLabels, labeledCount, splitDataset, takeRows } from './data/dataset.js';
export { loadIdx } from './data/idx.js';
export { type CsvOptions, loadCsv } from './data/csv.js';
export type { TableColumns } from './data/table/table-file.js';
export { applyTableContract, tableContract } from './data/table/table-contract.js';
export { loadMnist } from './data/mnist.js';
export {
  loadNpy,
  readNpy,
  readNpyFloat32Matrix,
  type NpyArray,
  type NpyData,
  type NpyDtype,
  type NpyLoadOptions,
  type NpyMatrix,
  type NpyMatrixOptions,
} from './data/npy.js';
export { loadImageFolder, type ImageFolder, type ImageFolderOptions, type SkippedImage } from './data/image-folder.js';
export type { SoftLabelEncoding } from './data/soft-label-store.js';
export { mergeShards, type MergeResult } from './data/soft-label-shards.js';
export {
  type DataSourceListing,
  type DataSourceOptions,
  type DataSourceSetting,
  type DataSplits,
  type TeacherView,
  listDataSources,
  loadDataSource,
  teacherSplits,
} from './data/data-source.js';
export type { ContractFile } from './data/sources/source-entry.js';
export {
  INPUT_CONTRACT_VERSION,
  type ImageContract,
  type InputContract,
  type InputContractBase,
  type TableContract,
  type TextContract,
  type VectorContract,
} from './data/input-contract.js';
export { dataInputContract, datasetContract, imageContract, PIXEL_SCALE, textContract, vectorContract } from './data/source-contracts.js';
export { type EncodedText, TextTokenizer, type TextTokenizerOptions, type TokenizerModelType } from './data/text/tokenizer.js';
export { findTokenizerFile, loadTokenizer, readTokenizerFiles, type TokenizerFiles } from './data/text/tokenizer-files.js';
export { type SpecialTemplate, specialTokenCount, type TemplatePiece } from './data/text/special-template.js';
export { truncatedLengths } from './data/text/truncation.js';
export { type TextAugment, MAX_NGRAM } from './data/text/augment-tokens.js';
export type { AugmentSetting } from './options/groups/data.js';
export {
  allocateTokenTable,
  bytesPerTokenId,
  tokenIdArray,
  type TokenIdArray,
  type TokenIdType,
  tokenIdType,
  type TokenTable,
  type TokenTableLayout,
  tokenTableRowBytes,
} from './data/text/token-table.js';
export { encodeRowsInto, type TextRows } from './data/text/token-batch.js';
export { type TokenRowsInfo, tokenRowsInfo } from './data/text/token-rows.js';

export {
  type ArchitectureListing,
  buildModel,
  type BuildModelOptions,
  isArchitectureSpec,
  listArchitectures,
} from './models/architectures.js';
export {
  type CustomLossFunction,
  DISTILLATION_LOSSES,
  type DistillationLossName,
  type LossListing,
  type LossOption,
  listLosses,
} from './train/losses.js';
export { type TeacherKindListing, type TeacherKindSettings, listTeacherKinds } from './teachers/open-teacher.js';
export { loadModel, saveModel } from './models/model-files.js';
export type { ModelData } from './models/model-data.js';
export {
  QUANTIZATION_DTYPES,
  type QuantizationDtype,
  type QuantizedTensor,
  type WeightQuantization,
  quantizeModelData,
  quantizeTensor,
  saveQuantizedModel,
} from './models/quantize.js';
export {
  type Float32Reference,
  type StockArtifacts,
  type VariantMeasurement,
  loadWithStockTfjs,
  measureFloat32,
  measureVariant,
  readStockArtifacts,
} from './models/variant-check.js';
export { type LatencyMeasurement, type LatencyOptions, measureLatency } from './models/latency.js';
export type { InputLayout, TeacherNormalize } from './models/onnx-teacher.js';
export { TREE_PROBABILITY_FLOOR, labelsOntoTeacherClasses, readOnnxMlClasses } from './models/onnx-ml-teacher.js';
export { teacherClassOrder, withTeacherClasses } from './teachers/teacher-classes.js';
export {
  EXPORTABLE_LAYERS,
  type ExportedOnnx,
  type OnnxExportOptions,
  UnsupportedLayerError,
  exportLayersToOnnx,
} from './models/layers-to-onnx.js';
export { type OnnxCheck, checkOnnxAgainstTfjs } from './models/onnx-check.js';
export { type HuggingFaceExport, readHuggingFaceExport } from './teachers/hugging-face-export.js';
export type { BackendChoice, BackendName, KernelsUsed } from './kernels/backend.js';
export type { KernelChoice } from './kernels/kernel-choice.js';
// The browser entry point (tfjs-distill/student), also here for Node users of the main entry.
export * from './student/index.js';

export { DistillCancelledError, DistillError, WorkerFailure } from './errors.js';
