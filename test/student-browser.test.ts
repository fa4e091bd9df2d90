import { copyFile, cp, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBrowserModules } from '../scripts/bundle-student.mjs';
import { serveStatic } from '../scripts/serve-static.mjs';
import { CHROMIUM } from './helpers/chromium.js';
import { runCli } from './helpers/cli.js';
import { SPAM_JSONL, writeDigitsStudent, writeSpamStudent } from './helpers/student-folder.js';

/**
 * The example page (examples/browser/) in headless Chromium, fed test rows through the page's own student;
 * its answers must equal `tfjs-distill predict`'s in Node, for an image and a text student, float32 and
 * uint8. The student folders are copied away from where they were made and served from another root, as a
 * web app would host them.
 */

const ROOT = new URL('..', import.meta.url).pathname;
const ROWS = 40;
const UPDATE_SCREENSHOT = process.env.UPDATE_STUDENT_SCREENSHOT === '1';
const SCREENSHOT = join(ROOT, 'docs/student-page.png');

interface Prediction {
  row?: number;
  label: string;
  probabilities: number[];
}

let dir: string;
let browser: Browser;
let site: { server: import('node:http').Server; url: string };
let digitPixels: number[][];
let texts: string[];

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`).toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-browser-'));
  const made = join(dir, 'made');
  const digits = await writeDigitsStudent(join(made, 'digits'), ROWS);
  await writeSpamStudent(join(made, 'spam'));
  digitPixels = Array.from({ length: ROWS }, (_, row) => Array.from(digits.x.subarray(row * 784, (row + 1) * 784)));
  texts = (await readFile(join(ROOT, SPAM_JSONL), 'utf8'))
    .trim()
    .split('\n')
    .slice(0, ROWS)
    .map((line) => JSON.parse(line).text);
  // The page and its modules at one root, the student folders copied to another.
  const page = join(dir, 'page');
  await cp(join(ROOT, 'examples/browser'), page, { recursive: true, filter: (path) => !/\/(lib|student)$/.test(path) });
  await writeBrowserModules(join(page, 'lib'));
  const hosted = join(dir, 'hosted/models');
  await mkdir(hosted, { recursive: true });
  for (const name of ['digits', 'spam']) await cp(join(made, name), join(hosted, name), { recursive: true });
  await rm(made, { recursive: true });
  site = await serveStatic({ '/': page, '/models/': hosted });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  site?.server.close();
  await rm(dir, { recursive: true, force: true });
});

/** The page on a student folder; fails on any script error or failed request the page reports. */
async function openPage(student: string, model?: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 760, height: 820 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  const query = new URLSearchParams({ student: `/models/${student}/`, backend: 'cpu', ...(model && { model }) });
  await page.goto(`${site.url}?${query}`);
  await page.evaluate(() => (window as unknown as { studentDemo: { ready: Promise<unknown> } }).studentDemo.ready);
  expect(errors).toEqual([]);
  return page;
}

const inPage = (page: Page, inputs: unknown[]) =>
  page.evaluate(
    (given) => (window as unknown as { studentDemo: { predict(x: unknown[]): Promise<Prediction[]> } }).studentDemo.predict(given),
    inputs,
  );

/** `tfjs-distill predict` on the folder, on the cpu backend, as JSONL lines. */
function predictInNode(folder: string, data: string, model: string | undefined): Prediction[] {
  const args = ['predict', folder, '--data', data, '--limit', String(ROWS), '--backend', 'cpu', ...(model ? ['--model', model] : [])];
  const result = runCli(args, { cwd: ROOT });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

function expectSame(browserSide: Prediction[], node: Prediction[]) {
  expect(browserSide).toHaveLength(node.length);
  node.forEach((expected, row) => {
    expect(expected.row).toBe(row);
    expect(browserSide[row].label).toBe(expected.label);
    browserSide[row].probabilities.forEach((p, c) => expect(Math.abs(p - expected.probabilities[c])).toBeLessThan(1e-6));
  });
}

describe.each([undefined, 'uint8'])('the example page (%s) answers as predict does in Node', (model) => {
  it('an image student: the first test digits', async () => {
    const page = await openPage('digits', model);
    expectSame(await inPage(page, digitPixels), predictInNode(join(dir, 'hosted/models/digits'), 'mnist', model));
    await page.close();
  });

  it('a text student: the first texts of the file', async () => {
    const page = await openPage('spam', model);
    const node = predictInNode(join(dir, 'hosted/models/spam'), `text:${SPAM_JSONL}`, model);
    expectSame(await inPage(page, texts), node);
    // And through the page itself: a typed text, the Classify button, the answer shown.
    await page.fill('#text', texts[0]);
    await page.click('#classify-text');
    await expect.poll(() => page.textContent('#answer')).toMatch(new RegExp(`^${node[0].label} \\(\\d+\\.\\d%\\)$`));
    await page.close();
  });
});

it('classifies a digit drawn with the mouse, and shows its classes (docs/student-page.png)', async () => {
  const page = await openPage('digits');
  const box = (await page.locator('#draw').boundingBox())!;
  const stroke = async (points: [number, number][]) => {
    await page.mouse.move(box.x + points[0][0], box.y + points[0][1]);
    await page.mouse.down();
    for (const [x, y] of points.slice(1)) await page.mouse.move(box.x + x, box.y + y, { steps: 8 });
    await page.mouse.up();
  };
  await stroke([
    [80, 60],
    [200, 60],
    [120, 230],
  ]);
  await page.click('#classify-image');
  await expect.poll(() => page.textContent('#answer')).toMatch(/^\d \(\d+\.\d%\)$/);
  expect(await page.locator('.bar').count()).toBe(10);
  const shot = join(dir, 'student-page.png');
  await page.screenshot({ path: shot });
  const png = await readFile(shot);
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  if (UPDATE_SCREENSHOT) await copyFile(shot, SCREENSHOT);
  expect((await stat(SCREENSHOT)).size).toBeLessThan(200 * 1024);
  await page.close();
});
