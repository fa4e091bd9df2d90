import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { DistillError, check, messageOf } from '../../errors.js';

/** One line of a file, without its line ending, and its number (from 1). */
export interface NumberedLine {
  readonly text: string;
  readonly number: number;
}

const NEWLINE = 0x0a;

/**
 * The lines of a UTF-8 file, read as a stream: each chunk's complete lines at once, so that memory holds one
 * chunk, not the file. Lines are split on the bytes (`\n`, a `\r` before it dropped) and each is decoded
 * strictly, so that invalid UTF-8 is an error naming its line rather than a silent U+FFFD. A byte-order mark
 * at the start is dropped. `noun` names the file in errors (`text file`, `csv file`).
 */
export async function* fileLines(file: string, noun = 'text file'): AsyncGenerator<NumberedLine[]> {
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new DistillError(
      `${noun} ${file} ${error.code === 'ENOENT' ? 'does not exist; check the path' : `cannot be read (${messageOf(error)})`}`,
    );
  });
  check(info.isFile(), `${noun} ${file} is not a file; give the path of a ${noun}`);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let number = 0;
  const decode = (bytes: Uint8Array): NumberedLine => {
    number++;
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    try {
      // The decoder drops a byte-order mark at the start of each call: it can only stand at the file's start.
      return { text: decoder.decode(bytes.subarray(0, end)), number };
    } catch {
      throw new DistillError(`${file} line ${number} is not valid UTF-8; convert the file to UTF-8 (for example with iconv)`);
    }
  };
  // The bytes of a line that runs past the end of a chunk.
  let carried: Buffer[] = [];
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    const lines: NumberedLine[] = [];
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end >= 0; end = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, end);
      lines.push(decode(carried.length > 0 ? Buffer.concat([...carried, piece]) : piece));
      carried = [];
      start = end + 1;
    }
    if (start < chunk.length) carried.push(chunk.subarray(start));
    if (lines.length > 0) yield lines;
  }
  if (carried.length > 0) yield [decode(Buffer.concat(carried))];
}
