/**
 * Run-time templating for the Slurm target. A plan fixes host names, addresses and file paths when it is
 * made; under Slurm the hosts are only known when the job starts. This module turns a planned string into a
 * bash double-quoted string in which every planned host name, address and file path is replaced by a shell
 * reference that the job script fills in at run time:
 *
 *   rank r's host name  → `${MN_H[r]}`   (the r-th Slurm node of the job, `scontrol show hostnames` order)
 *   rank r's address    → `${MN_A[r]}`   (that node's NodeAddr, resolved to IPv4)
 *   a planned file path → `${MN_DIR}/…`  (a per-job directory the script writes on every node)
 *
 * Algorithm: one left-to-right regex pass over the string with all tokens as alternatives, longest first,
 * each bounded so that `svc-1` never matches inside `svc-10` and `10.0.0.1` never inside `10.0.0.12`.
 * Literal text between tokens is escaped for bash double quotes (`\`, `"`, `$`, backquote). Pure.
 */

/** Token → shell reference (raw, inserted unescaped inside double quotes). */
export type TokenMap = ReadonlyMap<string, string>;

const ESCAPE_IN_DQ = /[\\"$`]/g;

/** Escape literal text for use inside a bash double-quoted string. */
export function escapeDq(text: string): string {
  return text.replace(ESCAPE_IN_DQ, (c) => `\\${c}`);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compile the token map into one matcher (longest tokens first). Returns undefined for an empty map. */
export function compileTokens(tokens: TokenMap): RegExp | undefined {
  const keys = [...tokens.keys()]
    .filter((k) => k.length > 0)
    .sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  if (keys.length === 0) return undefined;
  const alt = keys.map(escapeRegex).join('|');
  // Not glued to a neighbouring name character; a trailing `.digit` would make it a longer address.
  return new RegExp(`(?<![A-Za-z0-9_.-])(?:${alt})(?![A-Za-z0-9_-]|\\.[0-9])`, 'g');
}

/** The bash double-quoted form of `value` with every token replaced by its reference (quotes included). */
export function templateValue(value: string, tokens: TokenMap, matcher: RegExp | undefined): string {
  if (!matcher) return `"${escapeDq(value)}"`;
  let out = '';
  let last = 0;
  matcher.lastIndex = 0;
  for (let m = matcher.exec(value); m !== null; m = matcher.exec(value)) {
    const ref = tokens.get(m[0]);
    if (ref === undefined) continue;
    out += escapeDq(value.slice(last, m.index)) + ref;
    last = m.index + m[0].length;
  }
  out += escapeDq(value.slice(last));
  return `"${out}"`;
}

/** Slurm feature names allow letters, digits, `_`, `.`, `-`: `NVIDIA L4` → `NVIDIA_L4`. */
export function featureName(model: string): string {
  return model.trim().replace(/[^A-Za-z0-9_.-]+/g, '_');
}

/** A Slurm-safe job name (no whitespace or commas). */
export function jobName(service: string): string {
  return service.replace(/[^A-Za-z0-9_.-]+/g, '_') || 'multinode';
}

/**
 * Whether a bash double-quoted fragment can be cut at `q`: not inside a `${…}` reference and not between
 * a backslash and the character it escapes.
 */
export function isSafeCut(dq: string, q: number): boolean {
  let back = 0;
  for (let j = q - 1; j >= 0 && dq[j] === '\\'; j--) back++;
  if (back % 2 === 1) return false;
  let i = 0;
  while (i < q) {
    if (dq[i] === '\\') i += 2;
    else if (dq.startsWith('${', i)) {
      const close = dq.indexOf('}', i);
      if (close < 0 || close >= q) return i >= q;
      i = close + 1;
    } else i++;
  }
  return true;
}

/**
 * Splits per-rank double-quoted fragments into a common prefix, one middle per rank and a common suffix,
 * cutting only where `isSafeCut` allows. A per-rank value such as TF_CONFIG (all hosts, then this rank's
 * index) then costs its middle per rank instead of its whole length: O(N) script instead of O(N²).
 */
export function splitVarying(values: readonly string[]): {
  prefix: string;
  middles: string[];
  suffix: string;
} {
  const first = values[0] ?? '';
  let p = 0;
  while (p < first.length && values.every((v) => v[p] === first[p])) p++;
  while (p > 0 && !isSafeCut(first, p)) p--;
  const minLen = Math.min(...values.map((v) => v.length));
  let s = 0;
  while (s < minLen - p && values.every((v) => v[v.length - 1 - s] === first[first.length - 1 - s])) s++;
  while (s > 0 && values.some((v) => !isSafeCut(v, v.length - s))) s--;
  return {
    prefix: first.slice(0, p),
    middles: values.map((v) => v.slice(p, v.length - s)),
    suffix: s > 0 ? first.slice(first.length - s) : '',
  };
}
