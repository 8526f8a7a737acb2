/**
 * Reading what a user names on the command line: spec and inventory files (`-` is standard input). Reads
 * at most the spec layer's size limit plus one byte, so `/dev/zero` or a huge file is refused quickly
 * instead of filling memory; the parser then reports the size as a located error.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { EXIT, MultinodeError } from '../api/issues.js';
import { SPEC_MAX_BYTES, checkInputSize } from '../spec/bounds.js';

/** The most bytes read from one input file: the spec layer's limit plus one (so "too large" is seen). */
export const MAX_INPUT_BYTES = SPEC_MAX_BYTES + 1;

/**
 * The text of an input file named on the command line (`-` reads standard input), at most `MAX_INPUT_BYTES`.
 * A file that cannot be read is bad input: `<what>.unreadable`, exit 2, naming the file and the system's code;
 * a larger one is `<what>.too-large`, exit 2, located at its first line.
 */
export function readInputText(file: string, what: 'spec' | 'inventory'): string {
  const text = readBounded(file, what);
  const tooLarge = checkInputSize(Buffer.byteLength(text, 'utf8'), displayName(file));
  if (tooLarge)
    throw new MultinodeError(`${what}.too-large`, tooLarge.message, {
      issues: [tooLarge],
      exitCode: EXIT.badInput,
    });
  return text;
}

/** At most `MAX_INPUT_BYTES` of a file as text, or undefined when it cannot be read (for showing source lines). */
export function readSourceText(file: string): string | undefined {
  if (file === '-' || file === '<stdin>') return undefined;
  try {
    return readBounded(file, 'spec');
  } catch {
    return undefined;
  }
}

function readBounded(file: string, what: 'spec' | 'inventory'): string {
  let fd: number | undefined;
  try {
    fd = file === '-' ? 0 : openSync(file, 'r');
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, MAX_INPUT_BYTES - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        // Standard input that is a non-blocking pipe with nothing yet: try again.
        if (err instanceof Error && 'code' in err && err.code === 'EAGAIN') continue;
        throw err;
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total >= MAX_INPUT_BYTES) break;
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : undefined;
    const words = code === undefined ? undefined : ERRNO_WORDS[code];
    const reason = code === undefined ? String(err) : words ? `${words} (${code})` : code;
    throw new MultinodeError(`${what}.unreadable`, `cannot read ${file}: ${reason}`, {
      cause: err,
      exitCode: EXIT.badInput,
    });
  } finally {
    if (fd !== undefined && fd !== 0) closeSync(fd);
  }
}

/** The system codes a user meets naming a file, in words (the code follows in parentheses). */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory, not a file',
  EACCES: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
};

/** The name a file goes by in located errors. */
export function displayName(file: string): string {
  return file === '-' ? '<stdin>' : file;
}
