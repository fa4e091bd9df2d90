import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';

/**
 * Debian's chromium; CI installs it (.ci/run). Pages are checked as a browser renders them, so a missing
 * browser fails the suite rather than skipping it.
 */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless Chromium on `url`, kept off the network and away from any profile (a fresh one under
 * `profileRoot`). Console messages are logged to stderr, where tests look for script errors and blocked loads.
 */
export function chromium(args: string[], url: string, profileRoot: string) {
  const profile = join(profileRoot, `profile-${Math.random().toString(36).slice(2)}`);
  const result = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--enable-logging=stderr',
      '--v=0',
      `--user-data-dir=${profile}`,
      ...args,
      url,
    ],
    { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  expect(result.error).toBeUndefined();
  expect(result.status, result.stderr).toBe(0);
  return result;
}

/** The attributes of every element `tag` with class `className` in serialized HTML. */
export function elements(html: string, tag: string, className: string): Record<string, string>[] {
  const found: Record<string, string>[] = [];
  for (const match of html.matchAll(new RegExp(`<${tag}\\s([^>]*)>`, 'g'))) {
    const attributes = Object.fromEntries([...match[1].matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]));
    if (attributes.class === className) found.push(attributes);
  }
  return found;
}
