/**
 * A POSIX sh word scanner with source offsets: enough of the shell grammar to find commands and their words
 * in a backend command or script, and to say where in the text each word is. Pure.
 *
 * Algorithm: one left-to-right pass. Outside a word, blanks separate words, `#` starts a comment, a newline
 * or an operator (`;` `;;` `&` `&&` `|` `||` `|&` `(` `)`) ends the current command, and a redirection
 * operator (`<` `>` `>>` `>|` `<&` `>&` `<>` `<<` `<<-` `&>` `&>>`, with an optional IO number) takes the
 * next word as its target. A word runs until an unquoted blank, newline or operator; inside it '…', "…",
 * backslash escapes, `$(…)`, `$((…))`, `${…}` and backquotes are kept whole (nesting counted, quotes inside
 * respected). Backslash-newline is removed wherever the shell removes it. Here-document bodies are skipped
 * up to their delimiter line. Each word keeps its raw span, its value after quote removal (expansions kept
 * as written) and, per value character, the source span and quoting it came from — that map lets a caller
 * edit the text at a position inside a quoted string and escape what it inserts for that quoting.
 *
 * `scanScript` also descends into `sh -c STRING` / `bash -lc STRING` (and `exec`/`env`/`nohup`/… before the
 * shell): STRING's value is scanned again as a script of its own, with offsets mapped back through the word.
 *
 * Not a full parser: reserved words (`if`, `then`, `{`, …) are words like any other, and `case` patterns with
 * `)` end a command early. Callers treat what they cannot match as not understood.
 */

/** How a character of a word's value was written: bare, inside '…', or inside "…". */
export type Quoting = 'bare' | 'single' | 'double';

export interface ShellWord {
  /** Offset of the first and one past the last source character, in the scanned text. */
  readonly start: number;
  readonly end: number;
  readonly raw: string;
  /** After quote removal; `$x`, `$(…)`, `${…}` and backquotes stay as written. */
  readonly value: string;
  /** The word has a parameter, command or arithmetic expansion: its value is known only at run time. */
  readonly expands: boolean;
  /** For each character of `value`: its source span in the scanned text and how it was quoted. */
  readonly sources: readonly CharSource[];
}

export interface CharSource {
  readonly start: number;
  readonly end: number;
  readonly quoting: Quoting;
}

export interface ShellRedirect {
  readonly op: string;
  readonly start: number;
  readonly target: ShellWord | undefined;
}

export interface ShellCommand {
  /** The command's words in order, without redirections and their targets. */
  readonly words: readonly ShellWord[];
  readonly redirects: readonly ShellRedirect[];
  /** Offset of the first word or redirection. */
  readonly start: number;
  /** What ended the command: an operator, `\n`, or `` at the end of the text. */
  readonly terminator: string;
  /** The script inside `sh -c STRING`, when this command is such a wrapper. */
  readonly inner?: InnerScript;
}

export interface ShellScript {
  readonly text: string;
  readonly commands: readonly ShellCommand[];
}

/** A script found inside a `-c` word: `text` is the word's value, `word` its place in the enclosing text. */
export interface InnerScript extends ShellScript {
  readonly word: ShellWord;
}

export type ScanResult =
  | { readonly ok: true; readonly script: ShellScript }
  | { readonly ok: false; readonly offset: number; readonly message: string };

/** A scan error: its offset is in the text that was scanned at that level. */
class ScanError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

const BLANK = new Set([' ', '\t']);
const OPERATOR_START = new Set([';', '&', '|', '(', ')', '<', '>']);
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const SPECIAL_PARAM = /[0-9@*#?$!-]/;

/** How deep `sh -c` strings are followed (a `sh -c` inside a `bash -c` is two levels). */
const MAX_DEPTH = 8;

/** Scans `text` (and the scripts of `sh -c` wrappers in it). Offsets in errors are offsets into `text`. */
export function scanScript(text: string): ScanResult {
  try {
    return { ok: true, script: scanLevel(text, 0) };
  } catch (e) {
    if (e instanceof ScanError) return { ok: false, offset: e.offset, message: e.message };
    throw e;
  }
}

function scanLevel(text: string, depth: number): ShellScript {
  const commands = scanCommands(text).map((c): ShellCommand => {
    const arg = depth < MAX_DEPTH ? shellScriptWord(c.words) : undefined;
    if (!arg) return c;
    try {
      return { ...c, inner: { ...scanLevel(arg.value, depth + 1), word: arg } };
    } catch (e) {
      // Report the inner error where it is in this text.
      if (e instanceof ScanError) throw new ScanError(sourceOffset(arg, e.offset), e.message);
      throw e;
    }
  });
  return { text, commands };
}

/** Offset in the enclosing text of position `p` of a word's value (p = value length: the word's end). */
export function sourceOffset(word: ShellWord, p: number): number {
  const s = word.sources[p];
  if (s) return s.start;
  return word.sources[word.sources.length - 1]?.end ?? word.start;
}

/** Leading words that run the rest of the command: `exec`, `env …`, `nohup`, `command`, `time`, `nice`. */
const PREFIX_PROGRAMS = new Set(['exec', 'nohup', 'command', 'time', 'builtin']);
/** Reserved words that may precede a command on the same line. */
const RESERVED = new Set(['!', '{', 'then', 'do', 'else', 'elif', 'if', 'while', 'until']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * Index of the word that names the program the command runs, past reserved words, `NAME=value`
 * assignments and the prefixes above (with `env`'s options and assignments); -1 when there is none.
 */
export function programIndex(words: readonly ShellWord[]): number {
  let i = 0;
  while (i < words.length) {
    const w = words[i];
    if (!w) break;
    const v = w.value;
    if (RESERVED.has(v) || ASSIGNMENT.test(v) || PREFIX_PROGRAMS.has(v)) {
      i++;
      continue;
    }
    if (basename(v) === 'env') {
      i++;
      while (i < words.length) {
        const o = words[i]?.value ?? '';
        if (o === '-u' || o === '-C' || o === '-S') i += 2;
        else if (o.startsWith('-') || ASSIGNMENT.test(o)) i++;
        else break;
      }
      continue;
    }
    return i;
  }
  return -1;
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'zsh', 'mksh']);

/** The STRING word of `sh [options] -c [options] STRING …`, or undefined when the command is not one. */
function shellScriptWord(words: readonly ShellWord[]): ShellWord | undefined {
  const p = programIndex(words);
  if (p < 0 || !SHELLS.has(basename(words[p]?.value ?? ''))) return undefined;
  let hasC = false;
  for (let i = p + 1; i < words.length; i++) {
    const v = words[i]?.value ?? '';
    if (v === '--' || v === '-') {
      return hasC ? words[i + 1] : undefined;
    }
    if (v === '-o' || v === '+o') {
      i++;
      continue;
    }
    if (/^[-+][A-Za-z]+$/.test(v)) {
      if (v.startsWith('-') && v.includes('c')) hasC = true;
      continue;
    }
    if (v.startsWith('--')) continue;
    return hasC ? words[i] : undefined;
  }
  return undefined;
}

interface HereDoc {
  readonly delimiter: string;
  readonly stripTabs: boolean;
}

/** The commands of one level of text (no descent into `sh -c`). */
function scanCommands(text: string): ShellCommand[] {
  const commands: ShellCommand[] = [];
  let words: ShellWord[] = [];
  let redirects: ShellRedirect[] = [];
  let start = -1;
  let pendingDocs: HereDoc[] = [];
  let i = 0;
  const end = (terminator: string): void => {
    if (words.length > 0 || redirects.length > 0) commands.push({ words, redirects, start, terminator });
    words = [];
    redirects = [];
    start = -1;
  };
  const mark = (at: number): void => {
    if (start < 0) start = at;
  };
  const redirect = (op: string, at: number): void => {
    mark(at);
    while (i < text.length && (BLANK.has(text[i] ?? '') || text.startsWith('\\\n', i)))
      i += text[i] === '\\' ? 2 : 1;
    const c = text[i];
    let target: ShellWord | undefined;
    if (c !== undefined && c !== '\n' && !OPERATOR_START.has(c)) {
      target = readWord(text, i);
      i = target.end;
    }
    if (op === '<<' || op === '<<-') {
      if (!target) throw new ScanError(at, `here-document ${op} without a delimiter word`);
      pendingDocs.push({ delimiter: target.value, stripTabs: op === '<<-' });
    }
    redirects.push({ op, start: at, target });
  };

  while (i < text.length) {
    const c = text[i] ?? '';
    if (BLANK.has(c)) {
      i++;
      continue;
    }
    if (text.startsWith('\\\n', i)) {
      i += 2;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '\n') {
      end('\n');
      i++;
      for (const doc of pendingDocs) i = skipHereDoc(text, i, doc);
      pendingDocs = [];
      continue;
    }
    const op = operatorAt(text, i);
    if (op) {
      if (op === '<' || op === '>' || op.startsWith('<<') || op.startsWith('>') || op.startsWith('<')) {
        const at = i;
        i += op.length;
        redirect(op, at);
      } else if (op === '&>' || op === '&>>') {
        const at = i;
        i += op.length;
        redirect(op, at);
      } else {
        end(op);
        i += op.length;
      }
      continue;
    }
    const w = readWord(text, i);
    // An IO number: digits right before a redirection operator (`2>&1`).
    const next = text[w.end];
    if (/^\d+$/.test(w.raw) && (next === '<' || next === '>')) {
      const rop = operatorAt(text, w.end) ?? next;
      i = w.end + rop.length;
      redirect(rop, w.start);
      continue;
    }
    mark(w.start);
    words.push(w);
    i = w.end;
  }
  end('');
  return commands;
}

const OPERATORS = [
  '&&',
  '||',
  ';;',
  '|&',
  '&>>',
  '&>',
  '<<-',
  '<<',
  '>>',
  '>|',
  '>&',
  '<&',
  '<>',
  ';',
  '&',
  '|',
  '(',
  ')',
  '<',
  '>',
];

function operatorAt(text: string, i: number): string | undefined {
  if (!OPERATOR_START.has(text[i] ?? '')) return undefined;
  return OPERATORS.find((op) => text.startsWith(op, i));
}

function skipHereDoc(text: string, i: number, doc: HereDoc): number {
  let at = i;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    const lineEnd = nl < 0 ? text.length : nl;
    let line = text.slice(at, lineEnd);
    if (doc.stripTabs) line = line.replace(/^\t+/, '');
    at = nl < 0 ? text.length : nl + 1;
    if (line === doc.delimiter) break;
  }
  return at;
}

/** Reads one word starting at `i` (which is not a blank, newline, operator or comment start). */
function readWord(text: string, i0: number): ShellWord {
  const sources: CharSource[] = [];
  let value = '';
  let expands = false;
  const push = (s: string, start: number, end: number, quoting: Quoting): void => {
    for (const ch of s) {
      value += ch;
      sources.push({ start, end, quoting });
    }
  };
  /** Pushes text[a, b) character by character, each with its own one-character span. */
  const pushRaw = (a: number, b: number, quoting: Quoting): void => {
    for (let k = a; k < b; k++) push(text[k] ?? '', k, k + 1, quoting);
  };
  let i = i0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (BLANK.has(c) || c === '\n' || OPERATOR_START.has(c)) break;
    if (c === '\\') {
      if (text[i + 1] === '\n') i += 2;
      else if (i + 1 < text.length) {
        push(text[i + 1] ?? '', i, i + 2, 'bare');
        i += 2;
      } else {
        push('\\', i, i + 1, 'bare');
        i++;
      }
    } else if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) throw new ScanError(i, 'this single quote is never closed');
      pushRaw(i + 1, close, 'single');
      i = close + 1;
    } else if (c === '"') {
      i = readDouble(text, i, push, pushRaw, () => (expands = true));
    } else if (c === '$' || c === '`') {
      const e = expansionEnd(text, i);
      if (e > i + 1 || c === '`') expands = true;
      pushRaw(i, e, 'bare');
      i = e;
    } else {
      push(c, i, i + 1, 'bare');
      i++;
    }
  }
  return { start: i0, end: i, raw: text.slice(i0, i), value, expands, sources };
}

/** Reads "…" at `i` (the opening quote); returns the offset after the closing quote. */
function readDouble(
  text: string,
  i0: number,
  push: (s: string, start: number, end: number, q: Quoting) => void,
  pushRaw: (a: number, b: number, q: Quoting) => void,
  expanded: () => void,
): number {
  let i = i0 + 1;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (c === '"') return i + 1;
    if (c === '\\') {
      const n = text[i + 1];
      if (n === '\n') i += 2;
      else if (n === '$' || n === '`' || n === '"' || n === '\\') {
        push(n, i, i + 2, 'double');
        i += 2;
      } else {
        push('\\', i, i + 1, 'double');
        i++;
      }
    } else if (c === '$' || c === '`') {
      const e = expansionEnd(text, i);
      if (e > i + 1 || c === '`') expanded();
      pushRaw(i, e, 'double');
      i = e;
    } else {
      push(c, i, i + 1, 'double');
      i++;
    }
  }
  throw new ScanError(i0, 'this double quote is never closed');
}

/** End offset of the expansion at `i` (`$` or a backquote); `i + 1` for a lone `$`. */
function expansionEnd(text: string, i: number): number {
  const c = text[i];
  if (c === '`') {
    let k = i + 1;
    while (k < text.length && text[k] !== '`') k += text[k] === '\\' ? 2 : 1;
    if (k >= text.length) throw new ScanError(i, 'this backquote is never closed');
    return k + 1;
  }
  const n = text[i + 1] ?? '';
  if (n === '(') return balancedEnd(text, i + 1, '(', ')');
  if (n === '{') return balancedEnd(text, i + 1, '{', '}');
  if (NAME_START.test(n)) {
    let k = i + 2;
    while (k < text.length && NAME_CHAR.test(text[k] ?? '')) k++;
    return k;
  }
  if (SPECIAL_PARAM.test(n)) return i + 2;
  return i + 1;
}

/** End offset (after the matching close) of the group opening at `i`, skipping quotes and escapes. */
function balancedEnd(text: string, i: number, open: string, close: string): number {
  let depth = 0;
  let k = i;
  while (k < text.length) {
    const c = text[k];
    if (c === '\\') k += 2;
    else if (c === "'" && open === '(') {
      const q = text.indexOf("'", k + 1);
      if (q < 0) throw new ScanError(k, 'this single quote is never closed');
      k = q + 1;
    } else if (c === '"') {
      k = readDouble(
        text,
        k,
        () => undefined,
        () => undefined,
        () => undefined,
      );
    } else if (c === '`' || (c === '$' && text[k + 1] !== open)) {
      k = expansionEnd(text, k);
    } else {
      if (c === open) depth++;
      else if (c === close) depth--;
      k++;
      if (depth === 0) return k;
    }
  }
  throw new ScanError(i - 1, `this ${text[i - 1] ?? ''}${open} is never closed`);
}

/** 0-based line and column of `offset` in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 0;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++)
    if (text[k] === '\n') {
      line++;
      lineStart = k + 1;
    }
  return { line, column: offset - lineStart };
}
