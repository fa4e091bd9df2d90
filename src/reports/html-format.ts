// Formatting shared by the report page's sections: numbers as the page prints them, and escaping.
import type { TrainingPhase } from '../progress.js';

/** What the page calls a phase. */
export const PHASE_TITLES: Record<TrainingPhase, string> = {
  teacher: 'teacher training',
  student: 'student distillation',
  baseline: 'baseline (hard labels only)',
};

export const count = new Intl.NumberFormat('en-US');
export const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
export const rate = (x: number) => count.format(Math.round(x));
export const ms = (x: number) => (x >= 0.1 ? `${x.toFixed(2)} ms` : `${(x * 1000).toFixed(1)} µs`);
export const DASH = '–';

/** A change in accuracy, in points, as the pages show it: a drop with a minus sign, a gain with a plus. */
export const signed = (drop: number) => `${drop > 0 ? '−' : drop < 0 ? '+' : ''}${Math.abs(drop).toFixed(2)}`;

export function bytes(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** Text made safe for element content and for quoted attribute values alike. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
export const swatch = (color: string) => `<span class="swatch" style="background:${color}"></span>`;
export const section = (heading: string, body: string) => `<section>\n<h2>${esc(heading)}</h2>\n${body}\n</section>`;

/** The notices of a run or a sweep, one a line, or a note that there are none. */
export function noticeList(notices: string[]): string {
  if (notices.length === 0) return '<p class="muted">None.</p>';
  return `<ul class="notices">\n${notices.map((n) => `<li>${esc(n)}</li>`).join('\n')}\n</ul>`;
}
