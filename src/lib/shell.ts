/**
 * POSIX shell quoting for the command lines and scripts the planner, the renderers and the runtime generate.
 * Pure. Embedded single quotes become `'\''` (close, escaped quote, reopen), which every POSIX shell reads.
 */

/** `text` as one shell word: as is when no character in it is special to a shell, else single-quoted. */
export function shQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : singleQuote(text);
}

/** `text` single-quoted, always (also when it would be safe bare). */
export function singleQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
