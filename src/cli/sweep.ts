// `tfjs-distill sweep`: the data and models as `run` reads them, then sweep(): one labelling, a trial per
// grid point (a line each as it finishes), a leaderboard at the end.
import { join } from 'node:path';
import { loadDataSource } from '../data/data-source.js';
import { dataInputContract } from '../data/source-contracts.js';
import { check } from '../errors.js';
import { leaderboard, trialLine } from '../sweep/leaderboard.js';
import { type SweepGrid, parseGridFlags } from '../sweep/grid.js';
import type { ScheduleChoice } from '../sweep/schedule.js';
import { sweep } from '../sweep/sweep.js';
import { importModules } from './inputs.js';
import { ProgressView } from './progress-view.js';
import { type RunSettings, defaultStudent, isArchitecture } from './run-config.js';
import { runSettingsParts } from './run.js';

/** `sweep`'s settings: `run`'s, and the grid (a config file's mapping, or the --grid flags), the trials, the schedule. */
export type SweepSettings = RunSettings & {
  grid?: SweepGrid | string[];
  trials?: number;
  schedule: ScheduleChoice;
  /** Run the trials as jobs on this queue (see SweepQueueOptions). */
  queue?: string;
  queueTimeoutSeconds?: number;
};

export async function sweepCommand(settings: SweepSettings, signal: AbortSignal): Promise<void> {
  const { queue, queueTimeoutSeconds, ...runSettings } = settings;
  const { out, checkpoint } = runSettings;
  check(queueTimeoutSeconds === undefined || queue, '--queue-timeout applies to --queue only');
  const { options, teacherSetting, studentSetting, dataSource, quantize, maxQuantizeDrop, exportFormats } =
    await runSettingsParts(runSettings);
  check(
    exportFormats.length === 0,
    'sweep does not write --export files yet: run the chosen settings (sweep.json, best) with tfjs-distill run --export',
  );
  // A CLI message: it names the flag and the config key itself.
  check(settings.grid !== undefined, 'sweep needs a grid: --grid KEY=V1,V2 (e.g. --grid temperature=1,2,4), or grid: in the config file');
  const grid = Array.isArray(settings.grid) ? parseGridFlags(settings.grid) : settings.grid;
  const imported = options.teacherLogits != null;
  // One teacher or an ensemble's members: each a saved model.
  const teachers = teacherSetting === null ? [] : [teacherSetting].flat();
  check(
    imported || (teachers.length > 0 && !teachers.some(isArchitecture)),
    'sweep labels once with a trained teacher: give --teacher PATH (a run writes one to OUT/teacher) or --teacher-logits FILE',
    ['teacher'],
  );
  await importModules(options.workerImports ?? []);
  const splits = await loadDataSource({ ...dataSource, workers: options.workers });
  const { train, test, teacherView, classes, vocabSize } = splits;
  const view = new ProgressView();
  let labelling = true;
  const { report } = await sweep({
    ...options,
    teacher: teacherSetting ?? undefined,
    student: studentSetting ?? defaultStudent(vocabSize),
    train,
    test,
    teacherView,
    grid,
    trials: settings.trials ?? null,
    out,
    resume: checkpoint.resume,
    schedule: settings.schedule,
    contract: dataInputContract(splits),
    contractFiles: splits.contractFiles,
    quantize,
    maxQuantizeDrop,
    classes,
    onProgress: (event) => {
      if (labelling) view.update(event);
    },
    ...(queue && {
      queue: {
        url: queue,
        data: dataSource,
        queueTimeoutSeconds,
        onLog: (line: string) => {
          view.finishLine();
          process.stderr.write(`${line}\n`);
        },
      },
    }),
    onTrial: (trial, finished, total, resumed) => {
      if (labelling) view.finishLine();
      labelling = false;
      process.stdout.write(`${trialLine(trial, finished, total, resumed)}\n`);
    },
    signal,
  });
  view.finishLine();
  process.stdout.write(`\n${leaderboard(report)}\n`);
  const best = report.best === null ? '' : `${join(out, 'best', 'student')}/, `;
  process.stdout.write(`\nwrote ${best}${join(out, 'trials')}/ and ${join(out, 'sweep.json')}\n`);
}
