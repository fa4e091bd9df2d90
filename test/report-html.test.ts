import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, elements, chromium as headlessChromium } from './helpers/chromium.js';
import {
  type ClassificationScores,
  type DistillReport,
  type EpochRecord,
  type HistoryRecord,
  buildModel,
  distill,
  loadMnist,
  reportHtml,
  takeRows,
} from '../dist/index.js';

/** Set to rewrite the screenshot docs/cli.md shows from this test's page. */
const UPDATE_SCREENSHOT = process.env.UPDATE_REPORT_SCREENSHOT === '1';
const SCREENSHOT = new URL('../docs/report.png', import.meta.url).pathname;

let dir: string;
let report: DistillReport;
let history: HistoryRecord[];
let page: string;

/** Headless Chromium on the page, with its profile under the test's folder. */
const chromium = (args: string[], url: string) => headlessChromium(args, url, dir);

describe('report.html', () => {
  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`).toBe(true);
    dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-html-'));
    await tf.setBackend('cpu');
    const digits = await loadMnist();
    const shape = { inputShape: [28, 28], numClasses: 10 };
    const result = await distill({
      teacher: buildModel('mlp:32', { ...shape, seed: 1 }),
      student: buildModel('mlp:16', { ...shape, seed: 2 }),
      train: takeRows(digits.train, 600),
      test: takeRows(digits.test, 300),
      teacherEpochs: 4,
      epochs: 5,
      labeled: 200,
      batchSize: 64,
      optimizer: { name: 'adam', learningRate: 0.005 },
      workers: 2,
      baseline: true,
      // Held-out rows give every phase a validation curve; the schedule gives the learning rate a shape.
      validation: 50,
      lrSchedule: { name: 'cosine', warmupSteps: 4 },
    });
    report = result.report;
    // The names the CLI adds to the config, for a realistic page.
    report.config = { ...report.config, data: 'mnist', limit: 600, teacher: 'mlp:32', student: 'mlp:16' };
    history = report.history;
    page = join(dir, 'report.html');
    await writeFile(page, reportHtml(report));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is self-contained: no script, nothing loaded from anywhere', async () => {
    const html = await readFile(page, 'utf8');
    expect(html).not.toMatch(/<script/i);
    // No tag points anywhere (a URL in a notice is escaped text: nothing loads it).
    expect(html).not.toMatch(/<[^>]*(https?:|["'(=]\s*\/\/)[^>]*>/i);
    expect(html).not.toMatch(/\s(src|href)=|url\(|@import/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  it('renders in Chromium: a curve per phase and series, the table, no console message', () => {
    const { stdout: dom, stderr } = chromium(['--dump-dom'], pathToFileURL(page).href);
    // Any script error or blocked load would be logged as a console message.
    expect(stderr.split('\n').filter((line) => line.includes(':CONSOLE'))).toEqual([]);

    const epochs = history.filter((r): r is EpochRecord => r.kind === 'epoch');
    const expected = report.phases.flatMap(({ phase }) => {
      const own = epochs.filter((r) => r.phase === phase);
      const withValidation = own.filter((r) => r.validation).length;
      return [
        `${phase} trainLoss ${own.length}`,
        ...(withValidation > 0 ? [`${phase} validationAccuracy ${withValidation}`] : []),
        `${phase} learningRate ${own.length}`,
      ];
    });
    expect(expected).toHaveLength(9); // every phase with its validation curve
    const curves = elements(dom, 'path', 'curve');
    expect(curves.map((c) => `${c['data-phase']} ${c['data-series']} ${c['data-points']}`)).toEqual(expected);
    for (const curve of curves) {
      // The path goes through as many points as it says, each a dot on the chart.
      expect(curve.d.match(/[ML]/g)).toHaveLength(Number(curve['data-points']));
    }
    expect(elements(dom, 'circle', 'point')).toHaveLength(curves.reduce((sum, c) => sum + Number(c['data-points']), 0));

    const cell = (model: string, metric: string) => {
      const match = dom.match(new RegExp(`data-model="${model}" data-metric="${metric}"(?: data-value="([^"]*)")?>([^<]*)<`));
      expect(match, `${model} ${metric}`).not.toBeNull();
      return { value: match![1], text: match![2] };
    };
    for (const [model, accuracy] of [
      ['teacher', report.teacher!.accuracy],
      ['student', report.student.accuracy],
      ['baseline', report.baseline!.accuracy],
    ] as const) {
      expect(cell(model, 'accuracy')).toEqual({ value: String(accuracy), text: `${(100 * accuracy).toFixed(2)}%` });
    }
    expect(cell('student', 'agreement').text).toBe(`${(100 * report.student.agreement!).toFixed(2)}%`);
    expect(cell('teacher', 'agreement')).toEqual({ value: undefined, text: '–' });
    expect(cell('student', 'params').text).toBe(new Intl.NumberFormat('en-US').format(report.student.params));
    for (const [model, scores] of [
      ['teacher', report.teacher as ClassificationScores],
      ['student', report.student],
      ['baseline', report.baseline!],
    ] as const) {
      expect(cell(model, 'macroF1')).toEqual({ value: String(scores.macroF1), text: `${(100 * scores.macroF1).toFixed(2)}%` });
    }

    // Per class: every model's precision, recall and F1 as the report has them, the support, and the macro-F1 row.
    const scoreCells = elements(dom, 'td', 'num').filter((c) => c['data-class'] !== undefined && c['data-model'] !== undefined);
    expect(scoreCells).toHaveLength(3 * 10 * 3); // models x classes x metrics
    for (const c of scoreCells) {
      const scores = (
        c['data-model'] === 'teacher' ? report.teacher : c['data-model'] === 'student' ? report.student : report.baseline
      ) as ClassificationScores;
      const value = scores.perClass[Number(c['data-class'])][c['data-metric'] as 'precision' | 'recall' | 'f1'];
      expect(c['data-value']).toBe(String(value));
    }
    const supports = [...dom.matchAll(/data-class="(\d+)" data-metric="support">([\d,]+)</g)].map((m) => [
      Number(m[1]),
      Number(m[2].replace(/,/g, '')),
    ]);
    expect(supports).toEqual(report.student.perClass.map((s, c) => [c, s.support]));
    expect(supports.reduce((sum, [, n]) => sum + n, 0)).toBe(report.data.testRows);
    expect(dom.match(/data-metric="macroF1"/g)).toHaveLength(2 * 3); // the comparison table and the per-class table
    // The teacher's check on the labelled training rows, before distilling.
    expect(dom).toContain(`class="teacher-check" data-value="${report.teacherCheck!.trainAccuracy}"`);

    // The step breakdown: a bar of four parts for every phase that measured its steps.
    const parts = elements(dom, 'rect', 'step-part');
    const measured = report.phases.filter((p) => p.stepMs).map((p) => p.phase);
    expect(measured.length).toBeGreaterThan(0);
    expect(parts.map((p) => p['data-phase'])).toEqual(measured.flatMap((phase) => [phase, phase, phase, phase]));
    expect(dom).toContain(`data-throughput="student" data-value="${report.throughput.trainSamplesPerSec}"`);
    for (const notice of report.notices) expect(dom).toContain(notice.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
  });

  it('takes a screenshot at 1200 px wide (docs/cli.md shows it)', async () => {
    const shot = join(dir, 'report.png');
    chromium([`--screenshot=${shot}`, '--window-size=1200,1600', '--hide-scrollbars'], pathToFileURL(page).href);
    const png = await readFile(shot);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1200, 1600]); // the IHDR's width and height
    if (UPDATE_SCREENSHOT) await copyFile(shot, SCREENSHOT);
    expect((await stat(SCREENSHOT)).size).toBeLessThan(300 * 1024);
  });

  it('shows an absent or imported teacher, a missing agreement and no history', () => {
    const absent = reportHtml({
      ...report,
      teacher: null,
      student: { ...report.student, agreement: null },
      baseline: undefined,
      history: [],
    });
    expect(absent).toContain('data-model="teacher" data-metric="accuracy">–<');
    expect(absent).toContain('data-model="student" data-metric="agreement">–<');
    expect(absent).not.toContain('data-model="baseline"');
    expect(absent).toContain('the teacher was not evaluated');
    expect(absent).toContain('no per-epoch history');
    expect(absent).not.toContain('class="curve"');
    expect(absent).not.toContain('data-model="teacher" data-class=');
    expect(absent).not.toContain('class="warnings"');

    const warned = reportHtml({ ...report, warnings: ['the teacher is well below the baseline <b>'] });
    expect(warned).toContain('<ul class="warnings">\n<li>warning: the teacher is well below the baseline &#60;b&#62;</li>\n</ul>');

    const imported = reportHtml({ ...report, teacher: { accuracy: 0.9125, imported: true } });
    expect(imported).toContain('data-model="teacher" data-metric="accuracy" data-value="0.9125">91.25%<');
    expect(imported).toContain('data-model="teacher" data-metric="params">–<');
    expect(imported).toContain('imported test logits');
  });

  it('escapes every text it shows', () => {
    const hostile = '<script>alert("x")</script> & \'quoted\'';
    const html = reportHtml({
      ...report,
      notices: [hostile],
      data: { ...report.data, classes: [hostile] },
      config: { ...report.config, student: `"><img src=x onerror=alert(1)>`, data: hostile },
    });
    expect(html).not.toMatch(/<script|<img/);
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;quoted&#39;');
  });
});
