/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, `undefined` members dropped, arrays kept in
 * order. Two equal values always serialize to the same bytes, which is what the plan hash is computed over.
 * (A sorted copy handed to the native `JSON.stringify` measured faster than emitting text by hand.)
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortValue(value)) ?? 'null';
}

/**
 * A value whose `JSON.stringify` is canonical. Copy-on-write: an array or object that is already canonical
 * (keys in order, no `undefined` members, canonical children) is returned as is, so rank environments,
 * which are built sorted, are never copied.
 */
function sortValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const s = v === undefined ? null : sortValue(v);
      if (s !== v && out === undefined) out = value.slice(0, i);
      if (out !== undefined) out.push(s);
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return value;
  const keys = Object.keys(obj);
  // Children are allocated into `kids` only once something differs (lazily), so a canonical subtree costs
  // one key walk and no allocation.
  let kids: unknown[] | undefined;
  let ordered = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (i > 0 && (keys[i - 1] as string) >= k) ordered = false;
    const v = obj[k];
    const s = v === undefined ? undefined : sortValue(v);
    if (kids === undefined && (s !== v || v === undefined)) {
      kids = new Array<unknown>(keys.length);
      for (let j = 0; j < i; j++) kids[j] = obj[keys[j] as string];
    }
    if (kids !== undefined) kids[i] = s;
  }
  if (ordered && kids === undefined) return obj;
  const order = keys.map((_, i) => i);
  if (!ordered) order.sort((x, y) => ((keys[x] as string) < (keys[y] as string) ? -1 : 1));
  const out: Record<string, unknown> = {};
  for (const i of order) {
    const v = kids === undefined ? obj[keys[i] as string] : kids[i];
    const k = keys[i] as string;
    if (v === undefined) continue;
    // `__proto__` must stay an own key, not set the prototype.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

/** First 16 hex digits of sha256 over the canonical JSON of `value` (deterministic, not secret). */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/**
 * The same digest as `contentHash(value)` for an object with one large array member, fed to the hash one
 * element at a time so a plan of thousands of ranks is never one giant string.
 */
export function contentHashStreamed(value: Readonly<Record<string, unknown>>, arrayKey: string): string {
  const items = value[arrayKey];
  if (!Array.isArray(items)) return contentHash(value);
  const head = canonicalJson({ ...value, [arrayKey]: [] });
  const marker = `${JSON.stringify(arrayKey)}:[`;
  // Keys are unescaped in the text and values are escaped, so the marker can only be the key itself.
  const at = head.indexOf(`${marker}]`);
  if (at < 0) return contentHash(value);
  const h = createHash('sha256');
  h.update(head.slice(0, at + marker.length));
  items.forEach((item: unknown, i) => {
    if (i > 0) h.update(',');
    h.update(item === undefined ? 'null' : canonicalJson(item));
  });
  h.update(head.slice(at + marker.length));
  return h.digest('hex').slice(0, 16);
}
