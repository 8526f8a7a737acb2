/**
 * Memory sizes: one unit table for the whole project. A size is a non-negative decimal number with an
 * optional unit and an optional trailing `B`: `64GB`, `120GB`, `512Mi`, `1.5Gi`, `1048576` (bare bytes).
 *   decimal: K (or k) = 10^3, M = 10^6, G = 10^9, T = 10^12, P = 10^15
 *   binary:  Ki = 2^10, Mi = 2^20, Gi = 2^30, Ti = 2^40, Pi = 2^50
 * `B` alone means bytes. The result is rounded down to whole bytes and must be a safe integer.
 */

export const MEMORY_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  K: 1e3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

/** The accepted syntax, also emitted as the JSON Schema `pattern`. */
export const MEMORY_PATTERN = '^(?:[0-9]+(?:\\.[0-9]+)?|\\.[0-9]+) ?(?:[KMGTP]i?|k)?B?$';
const MEMORY_RE = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+) ?([KMGTP]i?|k)?B?$/;

/** Bytes for a size, or undefined when the text is not a size in the table above. */
export function parseMemorySize(input: string | number): number | undefined {
  if (typeof input === 'number') {
    return Number.isFinite(input) && input >= 0 && Number.isSafeInteger(Math.floor(input))
      ? Math.floor(input)
      : undefined;
  }
  const m = MEMORY_RE.exec(input.trim());
  if (!m) return undefined;
  const factor = MEMORY_UNITS[m[2] ?? ''];
  if (factor === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** A compact human form (`1Gi`, `512Mi`, `64GB` → `64G`) for messages. */
export function formatBytes(bytes: number): string {
  for (const unit of ['Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const f = MEMORY_UNITS[unit] ?? 1;
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${unit}`;
  }
  return String(bytes);
}
