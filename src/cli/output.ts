/**
 * Terminal I/O helpers: reading an input file (or standard input), colours (when stdout/stderr is a TTY and NO_COLOR is unset), issue printing with the
 * offending source line and a caret, and JSON output.
 */
import { styleText } from 'node:util';
import type { Issue } from '../api/issues.js';
import type { Reporter } from '../app/reporter.js';

import { readSourceText } from '../app/read-input.js';

export { readInputText } from '../app/read-input.js';

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
      sourceCache.set(file, readSourceText(file)?.split(/\r?\n/) ?? null);
    } catch {
      sourceCache.set(file, null);
    }
  }
  return sourceCache.get(file)?.[line - 1];
}

/** Drops the source lines read so far (the startup snapshot's warm-up must not keep the files it read). */
export function forgetSourceLines(): void {
  sourceCache.clear();
}

/** Longest source excerpt shown under an issue, in characters. */
const EXCERPT_CHARS = 120;

/**
 * The part of a source line shown under an issue: at most `EXCERPT_CHARS` around the column, with control
 * characters shown as `·` (one column each, so the caret stays under the right character).
 */
function excerpt(line: string, col: number): { shown: string; caret: number } {
  const at = Math.max(0, col - 1);
  const start = Math.max(0, Math.min(at - EXCERPT_CHARS / 2, line.length - EXCERPT_CHARS));
  const cut = line.slice(start, start + EXCERPT_CHARS);
  // eslint-disable-next-line no-control-regex
  const shown = cut.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '·').replace(/\t/g, ' ');
  const pre = start > 0 ? '…' : '';
  const post = start + EXCERPT_CHARS < line.length ? '…' : '';
  return { shown: `${pre}${shown}${post}`, caret: at - start + pre.length };
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
      const { shown, caret } = excerpt(text, issue.pos.col);
      out += `\n${gutter} | ${shown}\n${' '.repeat(4)} | ${' '.repeat(caret)}${paint('red', '^')}`;
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

/** The CLI's reporter for the application layer: notes on stderr, results and output on stdout. */
export const cliReporter: Reporter = {
  note: (message) => process.stderr.write(`${paint('cyan', '▸')} ${message}\n`),
  progress: (message) => {
    if (process.stderr.isTTY) process.stderr.write(`${paint('cyan', '▸')} ${message}\n`);
  },
  success: (message) => {
    const space = message.indexOf(' ');
    const head = space < 0 ? message : message.slice(0, space);
    process.stdout.write(`${paint('green', head, process.stdout)}${space < 0 ? '' : message.slice(space)}\n`);
  },
  output: (line) => process.stdout.write(`${line}\n`),
  issues: (issues) => printIssues(issues),
};
