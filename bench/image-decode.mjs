// Image-folder loading: decoded images/s of loadImageFolder at W decoding threads (1 to the core count),
// on PNGs this script writes first with sharp into a temporary ImageFolder tree (train/<class>/*.png): a
// seeded gradient per image with noise in its low bits, so that they compress (and inflate) somewhat
// like photographs rather than like flat colour or pure noise. Each load is timed whole, as a user sees
// it: listing the folders, the size probe, the pool of decoding threads starting (sharp loaded in each),
// decoding and resizing every image into the shared pixels. Rounds run every W in turn, after a warm-up
// load (the files then come from the page cache); each W's figure is its median round, with the range.
// Not part of `npm run bench` (about 20 s at the defaults). Needs a build (dist/) and sharp:
//   npm run build && node bench/image-decode.mjs [--images 2000] [--size 64] [--rounds 3] [--workers 1,2] [--quick] [--out FILE]
// Prints a markdown table and writes it to --out (default bench/results/image-decode.md).
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadImageFolder } from '../dist/data/image-folder.js';
import { mulberry32 } from '../dist/random.js';
import { medianAcrossRounds } from './metrics.mjs';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string' },
    size: { type: 'string' },
    rounds: { type: 'string' },
    workers: { type: 'string' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
  },
});
const quick = args.quick ?? false;
const images = Number(args.images ?? (quick ? 500 : 2000));
const size = Number(args.size ?? 64);
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const cores = availableParallelism();
const workerCounts = args.workers ? args.workers.split(',').map(Number) : Array.from({ length: cores }, (_, i) => i + 1);
const CLASSES = 4;
for (const [name, value] of Object.entries({
  images,
  size,
  rounds,
  ...Object.fromEntries(workerCounts.map((w, i) => [`workers[${i}]`, w])),
})) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`image-decode: ${name} must be a whole number of at least 1; got ${value}`);
    process.exit(1);
  }
}
const kib = (bytes) => (bytes / images / 1024).toFixed(1);
const log = (line) => console.error(`[image-decode ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Writes `images` size x size RGB PNGs into dir/train/class-<k>/, round robin over the classes. */
async function writeImages(dir) {
  const random = mulberry32(7);
  for (let k = 0; k < CLASSES; k++) await mkdir(join(dir, 'train', `class-${k}`), { recursive: true });
  let bytes = 0;
  for (let i = 0; i < images; i++) {
    const pixels = Buffer.alloc(size * size * 3);
    const [dr, dg, db] = [random() * 4, random() * 4, random() * 255];
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const at = (r * size + c) * 3;
        pixels[at] = (c * dr + random() * 16) & 255;
        pixels[at + 1] = (r * dg + random() * 16) & 255;
        pixels[at + 2] = (db + random() * 16) & 255;
      }
    }
    const info = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toFile(join(dir, 'train', `class-${i % CLASSES}`, `${String(i).padStart(6, '0')}.png`));
    bytes += info.size;
  }
  return bytes;
}

/**
 * One load of the whole split at W threads: images/s, and the cores it kept busy (the process's CPU time,
 * every thread's, over the wall time: sharp also decodes on libuv's threads, so W=1 can use more than one).
 */
async function decodeRate(dir, workers) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { dataset } = await loadImageFolder(dir, { split: 'train', workers });
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  if (dataset.shape[0] !== images) throw new Error(`image-decode: loaded ${dataset.shape[0]} of ${images} images`);
  return { samplesPerSec: images / seconds, busyCores: (user + system) / 1e6 / seconds };
}

const dir = await mkdtemp(join(tmpdir(), 'tfjs-distill-image-decode-'));
try {
  const loadAverage = loadavg();
  const writing = performance.now();
  const bytes = await writeImages(dir);
  log(`wrote ${images} PNGs of ${size}x${size}x3 (${kib(bytes)} KiB each) in ${((performance.now() - writing) / 1000).toFixed(1)} s`);
  await decodeRate(dir, workerCounts[0]); // warm-up: page cache, sharp loaded on the main thread
  const runs = new Map(workerCounts.map((w) => [w, []]));
  for (let round = 0; round < rounds; round++) {
    for (const workers of workerCounts) {
      const run = await decodeRate(dir, workers);
      runs.get(workers).push(run);
      log(`round ${round + 1}, W=${workers}: ${Math.round(run.samplesPerSec)} images/s, ${run.busyCores.toFixed(2)} cores busy`);
    }
  }
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  // Each W's median round, whole (its busy cores too), with the range: as bench/run.mjs merges rounds.
  const rows = workerCounts.map((workers) => ({ workers, ...medianAcrossRounds(runs.get(workers), () => 'all')[0] }));
  const base = rows[0].samplesPerSec / rows[0].workers;
  const lines = [
    `${cores} CPUs (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}, ` +
      `sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}, ` +
      `its concurrency ${sharp.concurrency()}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? 'default (4)'}); ` +
      `load average at start ${loadAverage.map((l) => l.toFixed(2)).join(' ')}.`,
    '',
    `loadImageFolder on ${fmt(images)} PNGs of ${size}x${size} RGB (${kib(bytes)} KiB each, ${CLASSES} classes), ` +
      `decoded to ${size}x${size}x3 uint8; each load timed whole (listing, probe, pool start, decoding). ` +
      (rounds > 1 ? `Median of ${rounds} rounds, each running every W in turn; the range is the lowest and highest round.` : 'One round.'),
    '',
    '| decoding threads (W) | images/s | range over rounds | speed-up vs W=1 | efficiency | cores busy (CPU time / wall) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const range = r.rounds > 1 ? `${fmt(r.samplesPerSecRange[0])}–${fmt(r.samplesPerSecRange[1])}` : '-';
    const speedup = r.samplesPerSec / base;
    const efficiency = `${Math.round((speedup / r.workers) * 100)}%`;
    lines.push(
      `| ${r.workers} | ${fmt(r.samplesPerSec)} | ${range} | ${speedup.toFixed(2)}x | ${efficiency} | ${r.busyCores.toFixed(2)} |`,
    );
  }
  lines.push(
    '',
    `\`node bench/image-decode.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString()}`,
  );
  const markdown = `${lines.join('\n')}\n`;
  const out = args.out ?? fileURLToPath(new URL('./results/image-decode.md', import.meta.url));
  await writeFile(`${out}.tmp`, markdown);
  await rename(`${out}.tmp`, out);
  console.log(markdown);
  console.log(`wrote ${out}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
