/**
 * Terminal I/O helpers: reading an input file (or standard input), colours (when stdout/stderr is a TTY and NO_COLOR is unset), issue printing with the
 * offending source line and a caret, and JSON output.
 */
import { readFileSync } from 'node:fs';
import { styleText } from 'node:util';
import { EXIT, MultinodeError } from '../api/issues.js';
import type { Issue } from '../api/issues.js';

/**
 * The text of an input file named on the command line (`-` reads standard input). A file that cannot be read
 * is bad input: `MultinodeError` `<what>.unreadable`, exit 2, naming the file and the system's error code.
 */
export function readInputText(file: string, what: 'spec' | 'inventory'): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
    throw new MultinodeError(`${what}.unreadable`, `cannot read ${file}: ${reason}`, {
      cause: err,
      exitCode: EXIT.badInput,
    });
  }
}

type Style = Parameters<typeof styleText>[0];

export function useColor(stream: NodeJS.WriteStream = process.stderr): boolean {
  return stream.isTTY && !process.env['NO_COLOR'] && process.env['TERM'] !== 'dumb';
}

export function paint(style: Style, text: string, stream: NodeJS.WriteStream = process.stderr): string {
  return useColor(stream) ? styleText(style, text) : text;
}

const sourceCache = new Map<string, string[] | null>();
function sourceLine(file: string, line: number): string | undefined {
  if (!sourceCache.has(file)) {
    try {
      sourceCache.set(file, readFileSync(file, 'utf8').split(/\r?\n/));
    } catch {
      sourceCache.set(file, null);
    }
  }
  return sourceCache.get(file)?.[line - 1];
}

/** `file:line:col: error[code] path: message`, then the source line and a caret under the column. */
export function formatIssue(issue: Issue): string {
  const where = issue.pos ? `${issue.pos.file}:${issue.pos.line}:${issue.pos.col}: ` : '';
  const sev = issue.severity === 'error' ? paint('red', 'error') : paint('yellow', 'warning');
  const path = issue.path ? `${paint('bold', issue.path)}: ` : '';
  let out = `${where}${sev}[${issue.code}] ${path}${issue.message}`;
  if (issue.hint) out += `\n  ${paint('cyan', 'hint:')} ${issue.hint}`;
  if (issue.pos) {
    const text = sourceLine(issue.pos.file, issue.pos.line);
    if (text !== undefined) {
      const gutter = String(issue.pos.line).padStart(4);
      out += `\n${gutter} | ${text}\n${' '.repeat(4)} | ${' '.repeat(Math.max(0, issue.pos.col - 1))}${paint('red', '^')}`;
    }
  }
  return out;
}

export function printIssues(issues: readonly Issue[]): void {
  for (const issue of issues) process.stderr.write(`${formatIssue(issue)}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Rows as left-aligned columns two spaces apart, without trailing blanks; lines joined by `\n`. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
