import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// Every relative link in README.md and docs/*.md must reach a file, and every #anchor a heading of the page it
// names, as GitHub renders them. Links to other sites are not fetched.
const ROOT = resolve(import.meta.dirname, '..');
const PAGES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** A page's text outside fenced code blocks, where a `#` line is a comment, not a heading. */
function prose(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
}

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const [, heading] of prose(text).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** The broken links of one page, as 'page: target (why)'. */
function brokenLinks(page: string, text: string): string[] {
  const problems: string[] = [];
  for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue;
    const [path, anchor] = target.split('#');
    const file = resolve(ROOT, dirname(page), path);
    if (path !== '' && !existsSync(file)) {
      problems.push(`${page}: ${target} (no such file)`);
    } else if (anchor !== undefined) {
      const linked = path === '' ? text : statSync(file).isFile() ? readFileSync(file, 'utf8') : '';
      if (!anchorsOf(linked).has(anchor)) problems.push(`${page}: ${target} (no heading with that anchor)`);
    }
  }
  return problems;
}

describe('documentation links', () => {
  it('finds a missing file and a missing anchor', () => {
    const text = '# Title\n[ok](#title) [gone](no-such-page.md) [bad](#no-such-heading)\n```sh\n# not a heading\n```\n';
    expect(brokenLinks('README.md', text)).toEqual([
      'README.md: no-such-page.md (no such file)',
      'README.md: #no-such-heading (no heading with that anchor)',
    ]);
  });

  it.each(PAGES)('%s: every relative link resolves', (page) => {
    expect(brokenLinks(page, readFileSync(join(ROOT, page), 'utf8'))).toEqual([]);
  });
});
