// The Python literal numpy writes as a .npy header (the repr of a dict), parsed without eval.
import { DistillError } from '../errors.js';

export type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/**
 * Parses the Python literal numpy writes as the header (repr of a dict). A small parser rather than
 * regular expressions, so key order, spacing, Python 2's 10L longs and structured descrs (lists of tuples)
 * all read correctly, and anything else is reported rather than half-read.
 */
export class LiteralParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  parseAll(): PyValue {
    const value = this.value();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('unexpected text after the dict');
    return value;
  }

  private fail(problem: string): never {
    throw new DistillError(
      `${this.file} has a malformed .npy header (${problem} at character ${this.pos}); ` +
        'the file is corrupt or was not written by np.save',
    );
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private value(): PyValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === '{') return this.dict();
    if (c === '(') return this.sequence(')');
    if (c === '[') return this.sequence(']');
    if (c === "'" || c === '"') return this.string();
    // Python 2 headers may spell strings u'...' or b'...'.
    if ((c === 'u' || c === 'b') && (this.text[this.pos + 1] === "'" || this.text[this.pos + 1] === '"')) {
      this.pos++;
      return this.string();
    }
    const word = /^(True|False|None|[+-]?\d+L?)/.exec(this.text.slice(this.pos));
    if (!word) this.fail(c === undefined ? 'unexpected end' : `unexpected '${c}'`);
    this.pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0].replace('L', ''));
  }

  private expect(char: string): void {
    this.skipSpace();
    if (this.text[this.pos] !== char) this.fail(`expected '${char}'`);
    this.pos++;
  }

  /** Whether the next character is `char`; consumes it if so. */
  private accept(char: string): boolean {
    this.skipSpace();
    if (this.text[this.pos] !== char) return false;
    this.pos++;
    return true;
  }

  private dict(): { [key: string]: PyValue } {
    this.expect('{');
    const result: { [key: string]: PyValue } = Object.create(null); // no inherited keys to mistake for header keys
    while (!this.accept('}')) {
      const key = this.value();
      if (typeof key !== 'string') this.fail('a dict key that is not a string');
      this.expect(':');
      result[key] = this.value();
      if (!this.accept(',')) {
        this.expect('}');
        break;
      }
    }
    return result;
  }

  /** A tuple or a list; both become arrays. */
  private sequence(close: string): PyValue[] {
    this.pos++;
    const items: PyValue[] = [];
    while (!this.accept(close)) {
      items.push(this.value());
      if (!this.accept(',')) {
        this.expect(close);
        break;
      }
    }
    return items;
  }

  private string(): string {
    const quote = this.text[this.pos++];
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('an unterminated string');
      const c = this.text[this.pos++];
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos++];
      if (e === 'x' || e === 'u') {
        const digits = this.text.slice(this.pos, this.pos + (e === 'x' ? 2 : 4));
        if (!/^[0-9a-fA-F]+$/.test(digits)) this.fail('a bad escape in a string');
        out += String.fromCharCode(parseInt(digits, 16));
        this.pos += digits.length;
      } else {
        out += { n: '\n', t: '\t', r: '\r', '0': '\0' }[e] ?? e;
      }
    }
  }
}
