import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SweepReport, sweepHtml } from '../dist/index.js';
import { CHROMIUM } from './helpers/chromium.js';
import { sweepReportFixture } from './helpers/sweep-report.js';

let dir: string;
let browser: Browser;

/** What went wrong on a page: script errors, console errors, dialogs, and any request but the page itself. */
interface Watched {
  page: Page;
  problems: string[];
}

/** The sweep page of `report`, written to a file and opened from it, as a user opens OUT/sweep.html. */
async function openSweepPage(report: SweepReport, name: string): Promise<Watched> {
  const file = join(dir, name, 'sweep.html');
  await mkdir(join(dir, name));
  await writeFile(file, sweepHtml(report));
  const url = pathToFileURL(file).href;
  const page = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`error: ${error.message}`));
  page.on('console', (message) => problems.push(`console ${message.type()}: ${message.text()}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('request', (request) => {
    if (request.url() !== url) problems.push(`request: ${request.url()}`);
  });
  await page.goto(url);
  return { page, problems };
}

/** The trial indices of the leaderboard's rows, top to bottom, as the browser has them now. */
const rowOrder = (page: Page) =>
  page.$$eval('table.leaderboard tbody tr', (rows) => rows.map((row) => Number((row as HTMLElement).dataset.trial)));

/** A column header, by its data-column (quoted as a CSS string, so any key works). */
const clickHeader = (page: Page, column: string) => page.click(`table.leaderboard th[data-column=${JSON.stringify(column)}] button`);

const ariaSort = (page: Page, column: string) => page.getAttribute(`table.leaderboard th[data-column="${column}"]`, 'aria-sort');

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`).toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-sweep-html-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('sweep.html', () => {
  it('is self-contained: one inline script admitted by its hash, nothing loaded, links relative', () => {
    const html = sweepHtml(sweepReportFixture());
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).toMatch(/<script>[^<]+<\/script>/);
    expect(html).toMatch(/content="default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-[A-Za-z0-9+/]+=*'"/);
    expect(html).not.toMatch(/<[^>]*(https?:|["'(=]\s*\/\/)[^>]*>/i);
    expect(html).not.toMatch(/\ssrc=|url\(|@import/i);
    const links = [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1]);
    expect(links).toEqual([
      ...sweepReportFixture()
        .trials.sort((a, b) => b.validationAccuracy - a.validationAccuracy)
        .map((t) => `${t.folder}/report.html`),
      'baselines/mlp-32/report.html',
      'baselines/mlp-128/report.html',
    ]);
    expect(sweepHtml(sweepReportFixture())).toBe(html);
  });

  it('sorts the leaderboard by validation accuracy, and by any column clicked', async () => {
    const { page, problems } = await openSweepPage(sweepReportFixture(), 'sorting');
    // Validation accuracy, best first: the mlp:128 trials, then the mlp:32 ones.
    expect(await rowOrder(page)).toEqual([7, 6, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]);
    expect(await ariaSort(page, 'validationAccuracy')).toBe('descending');
    expect(await page.getAttribute('table.leaderboard tr.best', 'data-trial')).toBe('7');

    // Size sorts smallest first; equal sizes keep trial order.
    await clickHeader(page, 'params');
    expect(await rowOrder(page)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(await ariaSort(page, 'params')).toBe('ascending');
    expect(await ariaSort(page, 'validationAccuracy')).toBe('none');
    await clickHeader(page, 'params');
    expect(await rowOrder(page)).toEqual([6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]);
    expect(await ariaSort(page, 'params')).toBe('descending');

    await clickHeader(page, 'latencyMsBatch1');
    expect(await rowOrder(page)).toEqual([2, 0, 5, 4, 1, 3, 10, 7, 9, 6, 8, 11]);
    await clickHeader(page, 'testAccuracy');
    expect(await rowOrder(page)).toEqual([7, 8, 6, 9, 10, 11, 0, 2, 1, 3, 4, 5]);
    // Text sorts naturally: mlp:32 before mlp:128.
    await clickHeader(page, 'settings.student');
    expect(await rowOrder(page)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    await clickHeader(page, 'settings.temperature');
    await clickHeader(page, 'settings.temperature');
    expect(await rowOrder(page)).toEqual([4, 5, 10, 11, 2, 3, 8, 9, 0, 1, 6, 7]);
    await clickHeader(page, 'index');
    await clickHeader(page, 'validationAccuracy');
    expect(await rowOrder(page)).toEqual([7, 6, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]);

    // Every row still has all its cells, and the links go to the trials' own folders.
    const widths = await page.$$eval('table.leaderboard tbody tr', (rows) => rows.map((row) => (row as HTMLTableRowElement).cells.length));
    expect(widths).toEqual(Array(12).fill(await page.$$eval('table.leaderboard thead th', (ths) => ths.length)));
    const hrefs = await page.$$eval('table.leaderboard tbody tr a', (links) => links.map((a) => a.getAttribute('href')));
    expect(hrefs).toEqual([7, 6, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5].map((i) => `trials/${String(i).padStart(2, '0')}/report.html`));
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows the baselines beside each trial, and the gain over them', async () => {
    const { page, problems } = await openSweepPage(sweepReportFixture(), 'gains');
    const cell = (trial: number, column: string) =>
      page.textContent(`table.leaderboard tr[data-trial="${trial}"] td[data-column="${column}"]`).then((t) => t?.trim());
    expect(await cell(7, 'baselineValidation')).toBe('87.90%');
    expect(await cell(7, 'gainValidation')).toBe('+0.70');
    expect(await cell(5, 'gainTest')).toBe('−1.10');
    expect(await cell(5, 'agreement')).toBe('86.90%');
    expect(await cell(7, 'index')).toContain('best');
    expect(await page.textContent('tr[data-summary="best"] td')).toContain('#7: temperature 1, alpha 0.9, student mlp:128');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('plots every trial and baseline on both charts, with the front as a step line through the expected points', async () => {
    const report = sweepReportFixture();
    const { page, problems } = await openSweepPage(report, 'plots');
    // By size, trials 0 and 2 tie as the most accurate mlp:32 (both on the front); by latency trial 2 is faster.
    const expectedFronts = { bytes: ['t0', 't2', 't7'], latency: ['t2', 't10', 't7'] };
    for (const [plot, expectedFront] of Object.entries(expectedFronts)) {
      const svg = `svg.sweep-plot[data-plot="${plot}"]`;
      const drawn = await page.$eval(svg, (root) => {
        const centre = (e: Element) => {
          if (e.tagName === 'circle') return `${e.getAttribute('cx')},${e.getAttribute('cy')}`;
          // A diamond's centre: the mean of its four corners.
          const corners = e
            .getAttribute('points')!
            .split(' ')
            .map((p) => p.split(',').map(Number));
          const mean = (k: number) => (corners.reduce((s, c) => s + c[k], 0) / corners.length).toFixed(1);
          return `${mean(0)},${mean(1)}`;
        };
        const markers = [...root.querySelectorAll('circle.trial, polygon.baseline')].map((e) => {
          const el = e as SVGElement;
          const id = el.dataset.trial !== undefined ? `t${el.dataset.trial}` : `b${el.dataset.baseline}`;
          return { id, at: centre(e), title: e.querySelector('title')?.textContent ?? '', onFront: el.dataset.front === 'true' };
        });
        const front = root.querySelector('polyline.front')!;
        const teacher = root.querySelector('line.teacher')!;
        return {
          markers,
          front: front.getAttribute('data-front')!.split(' '),
          line: front.getAttribute('points')!.split(' '),
          best: [...root.querySelectorAll('circle.best-marker')].map(centre),
          teacherY: Number(teacher.getAttribute('y1')),
          width: (root as SVGSVGElement).getBoundingClientRect().width,
        };
      });
      expect(drawn.width).toBeGreaterThan(300);
      expect(drawn.markers.filter((m) => m.id.startsWith('t'))).toHaveLength(12);
      expect(drawn.markers.filter((m) => m.id.startsWith('b'))).toHaveLength(2);
      expect(drawn.front).toEqual(expectedFront);
      expect(drawn.markers.filter((m) => m.onFront).map((m) => m.id)).toEqual(
        expectedFront.slice().sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))),
      );
      const at = (id: string) => drawn.markers.find((m) => m.id === id)!.at;
      // The step line passes through each front point in order, and between them runs across, then up.
      let position = -1;
      for (const id of expectedFront) {
        position = drawn.line.indexOf(at(id), position + 1);
        expect(position, `${plot}: ${id} at ${at(id)} on ${drawn.line.join(' ')}`).toBeGreaterThanOrEqual(0);
      }
      const xy = drawn.line.map((p) => p.split(',').map(Number));
      for (let i = 1; i < xy.length; i++) {
        const [[x0, y0], [x1, y1]] = [xy[i - 1], xy[i]];
        expect(x1 >= x0 && y1 <= y0 && (x1 === x0 || y1 === y0)).toBe(true);
      }
      // The best trial is ringed; the teacher's line lies above every point (it is the most accurate).
      expect(drawn.best).toEqual([at('t7')]);
      expect(drawn.markers.every((m) => Number(m.at.split(',')[1]) > drawn.teacherY)).toBe(true);
      const title = drawn.markers.find((m) => m.id === 't7')!.title;
      expect(title).toContain('#7: temperature 1, alpha 0.9, student mlp:128');
      expect(title).toContain('test 88.10%, validation 88.60%');
      expect(drawn.markers.find((m) => m.id === 'b0')!.title).toContain('baseline mlp:32 (hard labels)');
    }
    // On the log axis, equal ratios of size are equal distances: mlp:128 is 4.0 times mlp:32, two doublings.
    const ticks = await page.$$eval('svg[data-plot="bytes"] text', (texts) =>
      Object.fromEntries(texts.map((t) => [t.textContent, Number(t.getAttribute('x'))])),
    );
    const xOf = (trial: number) => page.$eval(`svg[data-plot="bytes"] circle[data-trial="${trial}"]`, (c) => Number(c.getAttribute('cx')));
    const doubling = ticks['200.0 kB'] - ticks['100.0 kB'];
    expect(((await xOf(6)) - (await xOf(0))) / doubling).toBeCloseTo(Math.log2(407_080 / 101_800), 2);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('escapes hostile settings, names and notices, and shows them as text', async () => {
    const hostile = '<script>alert("x")</script> & \'quoted\'';
    const report = sweepReportFixture();
    const attack = `"><img src=x onerror=alert(1)>`;
    report.grid = { ...report.grid, [attack]: [hostile] };
    report.trials[0].settings = { ...report.trials[0].settings, [attack]: hostile, loss: { name: hostile } };
    report.trials[1].folder = `javascript:alert(1)/${attack}`;
    report.baselines[0].student = hostile;
    report.teacher.spec = attack;
    report.notices = [hostile];
    report.schedule.reason = hostile;
    const html = sweepHtml(report);
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/<img/);
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;quoted&#39;');

    const { page, problems } = await openSweepPage(report, 'hostile');
    expect(await page.$$('img, [onerror]')).toHaveLength(0);
    expect(await page.textContent('ul.notices li')).toBe(hostile);
    expect(await page.textContent(`table.leaderboard tr[data-trial="0"] td[data-column=${JSON.stringify(`settings.${attack}`)}]`)).toBe(
      hostile,
    );
    // A folder that looks like a URL is a path under OUT: its link stays relative.
    const href = await page.getAttribute('table.leaderboard tr[data-trial="1"] a', 'href');
    expect(new URL(href!, page.url()).protocol).toBe('file:');
    expect(new URL(href!, page.url()).pathname).toContain('/hostile/javascript%3Aalert(1)/');
    // The page still sorts with hostile columns in it.
    await clickHeader(page, `settings.${attack}`);
    expect((await rowOrder(page))[0]).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('says what is missing: no trials, no best, a trial without a latency', async () => {
    const empty = { ...sweepReportFixture(), trials: [], baselines: [], best: null, notices: [] };
    const html = sweepHtml(empty);
    expect(html).toContain('No trial finished');
    expect(html).toContain('nothing to plot');
    expect(html).toContain('none was chosen');
    expect(html).not.toContain('<svg');

    const partial = sweepReportFixture();
    partial.trials[3].latencyMsBatch1 = Number.NaN;
    partial.trials[4].agreement = null;
    const { page, problems } = await openSweepPage(partial, 'partial');
    expect(await page.$$('svg[data-plot="latency"] circle.trial')).toHaveLength(11);
    expect(await page.$$('svg[data-plot="bytes"] circle.trial')).toHaveLength(12);
    expect(await page.textContent('svg[data-plot="latency"] + p')).toContain('1 model without a usable latency left out');
    // A missing value sorts last whichever way the column goes.
    await clickHeader(page, 'agreement');
    expect((await rowOrder(page)).at(-1)).toBe(4);
    await clickHeader(page, 'agreement');
    expect((await rowOrder(page)).at(-1)).toBe(4);
    expect(problems).toEqual([]);
    await page.close();
  });
});
