/**
 * Inserting a backend's flags into the user's launch command by structure, not by appending text. Pure.
 *
 * `findLaunch` scans the command with `shell-words.ts` (descending into `sh -c` / `bash -c` strings) and
 * picks the launch: the one command whose words the matcher recognises (`python -m sglang.launch_server …`);
 * when none is recognised but the text holds exactly one command, that command is the launch (a wrapper of
 * the user's own, e.g. a stand-in). Zero or several candidates, or text the scanner cannot read, is a
 * located error saying what was looked for.
 *
 * `insertFlags` then puts the flag words right after the launch's last word — before its redirections, a
 * pipe, `;`, `&&`, a comment, the end of the line or the closing quote of a `bash -c "…"` string — each word
 * quoted with `shQuote`, and the inserted text escaped once per enclosing quoting level (inside '…': `'\''`;
 * inside "…": `\` before `$ \` " \\`; in a bare word: `\` before every special character), so the program
 * receives exactly those words. A flag the launch already sets is not added twice: when its value is a
 * variable or command substitution (`--node-rank $MULTINODE_NODE_RANK`) or equals the planned value, the
 * user's word stays; a different literal value is a located error (it would contradict the plan).
 */
import { shQuote } from '../lib/shell.js';
import { lineColumn, programIndex, scanScript, sourceOffset } from './shell-words.js';
import type { Quoting, ShellCommand, ShellScript, ShellWord } from './shell-words.js';

export interface LaunchMatcher {
  /** The program's name in messages, e.g. `SGLang`. */
  readonly name: string;
  /** The forms looked for, for messages, e.g. "`python -m sglang.launch_server …` or `sglang serve …`". */
  readonly forms: string;
  /** Whether a command's words, from its program word on (values after quote removal), launch it. */
  readonly matches: (args: readonly string[]) => boolean;
}

/** A refusal, located in the text given: 0-based line and column. */
export interface LaunchError {
  readonly ok: false;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly hint: string;
}

/** The launch found in `text`: scan once, then insert each rank's flags with `insertFlagsAt`. */
export interface Launch {
  readonly ok: true;
  readonly text: string;
  readonly matcher: LaunchMatcher;
  readonly command: ShellCommand;
  /** The `sh -c` string words from the outermost level down to the script holding `command`. */
  readonly path: readonly ShellWord[];
}

export type InsertResult = { readonly ok: true; readonly text: string } | LaunchError;

interface Candidate {
  readonly command: ShellCommand;
  readonly path: readonly ShellWord[];
}

export function findLaunch(text: string, matcher: LaunchMatcher): Launch | LaunchError {
  const scanned = scanScript(text);
  if (!scanned.ok)
    return located(
      text,
      scanned.offset,
      `cannot read the command as shell: ${scanned.message}`,
      'close the quote or parenthesis; multinode runs the command with /bin/sh -c',
    );
  const candidates: Candidate[] = [];
  collect(scanned.script, [], candidates);
  const matched = candidates.filter((c) => {
    const p = programIndex(c.command.words);
    return p >= 0 && matcher.matches(c.command.words.slice(p).map((w) => w.value));
  });
  const looked = `looked for ${matcher.forms}, also inside sh -c / bash -c strings`;
  const hint = `write the launch in one of those forms, once; or run your own script with launch: all and pass the flags from the rank's environment`;
  if (matched.length > 1) {
    const lines = matched.map((c) => topPosition(text, c, c.command.start).line + 1);
    const second = matched[1];
    const at = second ? topOffset(second, second.command.start) : 0;
    return located(
      text,
      at,
      `${matcher.name} is launched ${matched.length} times (lines ${lines.join(', ')} of the command); multinode adds its flags to exactly one launch`,
      hint,
    );
  }
  const only = matched[0] ?? (candidates.length === 1 ? candidates[0] : undefined);
  if (!only)
    return located(
      text,
      0,
      candidates.length === 0
        ? `the command runs nothing: ${looked}`
        : `found no ${matcher.name} launch (${looked}), and the command has ${candidates.length} commands, so none of them can be taken as the launch`,
      hint,
    );
  return { ok: true, text, matcher, command: only.command, path: only.path };
}

/**
 * `text` with `flags` (argv words: `--name value …`) inserted after the launch's last word, or why not.
 * Flags the launch already sets are handled as the module comment says.
 */
export function insertFlags(text: string, matcher: LaunchMatcher, flags: readonly string[]): InsertResult {
  const launch = findLaunch(text, matcher);
  return launch.ok ? insertFlagsAt(launch, flags) : launch;
}

/** `insertFlags` for a launch already found. */
export function insertFlagsAt(launch: Launch, flags: readonly string[]): InsertResult {
  const { command, path, text, matcher } = launch;
  const words = command.words.slice(Math.max(0, programIndex(command.words)));
  const add: string[] = [];
  for (let k = 0; k < flags.length; k++) {
    const name = flags[k] ?? '';
    const next = flags[k + 1];
    const value = name.startsWith('-') && next !== undefined && !next.startsWith('-') ? next : undefined;
    if (value !== undefined) k++;
    const have = existing(words, name);
    if (!have) {
      add.push(name, ...(value === undefined ? [] : [value]));
      continue;
    }
    if (value === undefined || have.valueWord.expands || have.value === value) continue;
    return located(
      text,
      topOffset(launch, have.flagWord.start),
      `the ${matcher.name} launch sets ${name} ${have.value || '(no value)'}, but multinode must pass ${name} ${value} here`,
      `remove ${name} from the command (multinode adds it), or take the value from the rank's environment`,
    );
  }
  const last = words[words.length - 1];
  if (add.length === 0 || !last) return { ok: true, text };
  const edit = lift(path, last.end, ` ${add.map(shQuote).join(' ')}`);
  return { ok: true, text: text.slice(0, edit.offset) + edit.insert + text.slice(edit.offset) };
}

/** The user's value of `--name`, as `--name value` or `--name=value`, with the words holding them. */
function existing(
  words: readonly ShellWord[],
  name: string,
): { readonly value: string; readonly flagWord: ShellWord; readonly valueWord: ShellWord } | undefined {
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    if (!w) continue;
    if (w.value === name) {
      const v = words[i + 1];
      return { value: v?.value ?? '', flagWord: w, valueWord: v ?? w };
    }
    if (w.value.startsWith(`${name}=`))
      return { value: w.value.slice(name.length + 1), flagWord: w, valueWord: w };
  }
  return undefined;
}

function collect(script: ShellScript, path: readonly ShellWord[], out: Candidate[]): void {
  for (const c of script.commands) {
    if (c.inner) collect(c.inner, [...path, c.inner.word], out);
    else if (c.words.length > 0) out.push({ command: c, path });
  }
}

/** An insertion at `offset` of the innermost script, carried out to the top-level text. */
function lift(
  path: readonly ShellWord[],
  offset: number,
  insert: string,
): { offset: number; insert: string } {
  let at = offset;
  let text = insert;
  for (let j = path.length - 1; j >= 0; j--) {
    const word = path[j];
    if (!word) continue;
    // After the value character before the insertion point, in that character's quoting.
    const before = word.sources[at - 1];
    const quoting: Quoting = before?.quoting ?? word.sources[0]?.quoting ?? 'bare';
    text = escapeFor(text, quoting);
    at = before ? before.end : sourceOffset(word, 0);
  }
  return { offset: at, insert: text };
}

/** `text` written so that, inside a word quoted as `quoting`, it reads back as itself. */
function escapeFor(text: string, quoting: Quoting): string {
  switch (quoting) {
    case 'single':
      return text.replace(/'/g, `'\\''`);
    case 'double':
      return text.replace(/[$`"\\]/g, (c) => `\\${c}`);
    case 'bare':
      return text.replace(/[^A-Za-z0-9_@%+=:,./-]/g, (c) => `\\${c}`);
  }
}

/** Offset in the top-level text of `offset` in the script at the end of `c.path`. */
function topOffset(c: Candidate, offset: number): number {
  let at = offset;
  for (let j = c.path.length - 1; j >= 0; j--) {
    const word = c.path[j];
    if (word) at = sourceOffset(word, at);
  }
  return at;
}

function topPosition(text: string, c: Candidate, offset: number): { line: number; column: number } {
  return lineColumn(text, topOffset(c, offset));
}

function located(text: string, offset: number, message: string, hint: string): LaunchError {
  return { ok: false, ...lineColumn(text, offset), message, hint };
}
