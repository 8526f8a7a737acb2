/**
 * Canonical YAML for rendered manifests: keys sorted at every level, no line wrapping, documents in the order
 * given, separated by `---`, ending in one newline. Same objects, same bytes.
 *
 * The bytes are those of the `yaml` package's `stringify` on the key-sorted object (options below). A 10,000-rank
 * service renders 10,000 small Services, and the package's generic path (a node tree per document) dominated the
 * render, so `fastDocument` writes the common shapes directly: plain objects with simple keys, arrays of
 * non-arrays, integers, booleans, null, and strings, each string scalar formatted once by the package itself and
 * cached (a block scalar re-indented to its depth). Anything else (unusual keys, nested arrays, non-integer
 * numbers, block scalars in a sequence) makes that one document go through the package unchanged. The unit test
 * `render-k8s-yaml` compares both paths.
 */
import { stringify } from 'yaml';

const STRINGIFY_OPTIONS = {
  lineWidth: 0,
  minContentWidth: 0,
  aliasDuplicateObjects: false,
  indentSeq: true,
} as const;

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}

/** The `yaml` package's bytes for one document (the reference `fastDocument` must equal). */
export function libraryDocument(object: unknown): string {
  return stringify(sortKeys(object), STRINGIFY_OPTIONS);
}

export function canonicalYaml(objects: readonly unknown[]): string {
  const cache = new Map<string, string>();
  return objects.map((o) => `---\n${fastDocument(o, cache) ?? libraryDocument(o)}`).join('');
}

/** A key the package writes as is: starts with a letter, no character YAML treats specially, not a bool/null. */
const SIMPLE_KEY = /^[A-Za-z][A-Za-z0-9_./-]*$/;
const RESERVED = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE|[Nn]ull|NULL)$/;
const DIGITS = /^[0-9]+$/;

/** Thrown inside `fastDocument` for a shape it does not write; the document then goes through the package. */
class Unsupported extends Error {}

/**
 * One document as `libraryDocument` writes it, or undefined when its shape is not handled here. `cache` maps a
 * string to its scalar text as a mapping value (one line, or a block scalar's header and lines at depth 0).
 */
export function fastDocument(object: unknown, cache: Map<string, string> = new Map()): string | undefined {
  if (!isPlainRecord(object)) return undefined;
  try {
    const doc = writeMap(object, '', cache);
    return doc === '' ? undefined : doc;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function sortedKeys(map: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const k of Object.keys(map)) {
    if (map[k] === undefined) continue;
    if (!SIMPLE_KEY.test(k) || RESERVED.test(k) || k.length > 1024) throw new Unsupported();
    keys.push(k);
  }
  return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The pairs of `map`, each line but the first prefixed by `indent` (the first continues a line already started:
 * the key's line, or `- ` in a sequence); '' for an empty map (the caller writes `{}`).
 */
function writeMap(map: Record<string, unknown>, indent: string, cache: Map<string, string>): string {
  const inner = `${indent}  `;
  let out = '';
  for (const k of sortedKeys(map)) {
    if (out !== '') out += indent;
    const v = map[k];
    if (Array.isArray(v)) {
      out += v.length === 0 ? `${k}: []\n` : `${k}:\n${writeSeq(v, inner, cache)}`;
    } else if (isPlainRecord(v)) {
      const sub = writeMap(v, inner, cache);
      out += sub === '' ? `${k}: {}\n` : `${k}:\n${inner}${sub}`;
    } else {
      out += `${k}: ${scalar(v, inner, true, cache)}\n`;
    }
  }
  return out;
}

function writeSeq(seq: readonly unknown[], indent: string, cache: Map<string, string>): string {
  const inner = `${indent}  `;
  let out = '';
  for (let i = 0; i < seq.length; i++) {
    if (!(i in seq)) throw new Unsupported();
    const v = seq[i];
    if (Array.isArray(v) || v === undefined) throw new Unsupported();
    if (isPlainRecord(v)) {
      const sub = writeMap(v, inner, cache);
      out += sub === '' ? `${indent}- {}\n` : `${indent}- ${sub}`;
    } else out += `${indent}- ${scalar(v, inner, false, cache)}\n`;
  }
  return out;
}

/** A scalar's text; `blockIndent` is where a block scalar's lines go (allowed only as a mapping value). */
function scalar(v: unknown, blockIndent: string, mapValue: boolean, cache: Map<string, string>): string {
  if (typeof v === 'string') {
    if (SIMPLE_KEY.test(v) && !RESERVED.test(v)) return v;
    if (DIGITS.test(v)) return `"${v}"`;
    let text = cache.get(v);
    if (text === undefined) {
      text = libraryValue(v);
      cache.set(v, text);
    }
    if (!text.includes('\n')) return text;
    if (!mapValue) throw new Unsupported();
    return reindent(text, blockIndent);
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw new Unsupported();
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null) return 'null';
  throw new Unsupported();
}

/** The package's text for a string as a mapping value at depth 0: one line, or a block scalar (lines at `  `). */
function libraryValue(v: string): string {
  const doc = stringify({ a: v }, STRINGIFY_OPTIONS);
  if (!doc.startsWith('a: ') || !doc.endsWith('\n')) throw new Unsupported();
  const text = doc.slice(3, -1);
  if (text.includes('\n')) {
    // A block scalar: header line, then lines indented by two spaces (empty lines bare).
    const lines = text.split('\n');
    if (!/^[|>]/.test(lines[0] ?? '')) throw new Unsupported();
    for (const line of lines.slice(1)) if (line !== '' && !line.startsWith('  ')) throw new Unsupported();
  }
  return text;
}

/** A depth-0 block scalar moved to `indent` (which replaces the two-space indentation of every non-empty line). */
function reindent(text: string, indent: string): string {
  if (indent === '  ') return text;
  const extra = indent.slice(2);
  return text.replace(/\n(?=[^\n])/g, `\n${extra}`);
}

/** The same objects as one canonical JSON `List` (sorted keys, two-space indent), which kubectl also applies. */
export function canonicalJsonList(objects: readonly unknown[]): string {
  return `${JSON.stringify(sortKeys({ apiVersion: 'v1', kind: 'List', items: objects }), null, 2)}\n`;
}
