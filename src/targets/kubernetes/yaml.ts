/**
 * Canonical YAML for rendered manifests: keys sorted at every level, no line wrapping, documents in the order
 * given, separated by `---`, ending in one newline. Same objects, same bytes.
 */
import { stringify } from 'yaml';

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

export function canonicalYaml(objects: readonly unknown[]): string {
  return objects
    .map((o) =>
      stringify(sortKeys(o), {
        lineWidth: 0,
        minContentWidth: 0,
        aliasDuplicateObjects: false,
        indentSeq: true,
      }),
    )
    .map((doc) => `---\n${doc}`)
    .join('');
}

/** The same objects as one canonical JSON `List` (sorted keys, two-space indent), which kubectl also applies. */
export function canonicalJsonList(objects: readonly unknown[]): string {
  return `${JSON.stringify(sortKeys({ apiVersion: 'v1', kind: 'List', items: objects }), null, 2)}\n`;
}
