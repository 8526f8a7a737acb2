/**
 * Field paths as a user writes them: `services.vllm.ports[0].port`. Keys that are not plain identifiers
 * (`nvidia.com/gpu`) are quoted in brackets: `resource.devices["nvidia.com/gpu"]`.
 */

export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Appends one segment to a formatted path. */
export function joinPath(base: string, segment: PathSegment): string {
  if (typeof segment === 'number') return `${base}[${segment}]`;
  if (PLAIN_KEY.test(segment)) return base === '' ? segment : `${base}.${segment}`;
  return `${base}[${JSON.stringify(segment)}]`;
}

/** Formats a whole segment list (as zod reports it). */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) out = joinPath(out, typeof s === 'symbol' ? String(s) : s);
  return out;
}

/** The path one level up (`a.b[0].c` → `a.b[0]`), or undefined at the root. */
export function parentPath(path: string): string | undefined {
  if (path === '') return undefined;
  const m = /^(.*?)(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[(?:\d+|"(?:[^"\\]|\\.)*")\])$/s.exec(path);
  return m ? (m[1] ?? '') : '';
}
