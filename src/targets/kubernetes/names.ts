/**
 * Generated Kubernetes names. Object names and label values are DNS-1123 labels (lower-case alphanumerics and
 * `-`, starting and ending alphanumeric, at most 63 characters). A name that would be longer keeps a readable
 * prefix and ends in `-` plus 8 hex digits of the sha256 of the full name, so it stays stable and unique.
 */
import { createHash } from 'node:crypto';

export const MAX_NAME = 63;

export function shortHash(text: string, length = 8): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

export function isDnsLabel(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

/** Joins parts with `-`, maps everything else to `-`, and shortens with a stable hash past `max`. */
export function dnsName(parts: readonly string[], max = MAX_NAME): string {
  const full = parts.join('-');
  let name = full
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (name === '') name = 'x';
  if (name.length <= max) return name;
  const head = name.slice(0, max - 9).replace(/-+$/, '');
  return `${head}-${shortHash(full)}`;
}

/** A port name (IANA_SVC_NAME): at most 15 characters, lower-case alphanumerics and `-`, with a letter. */
export function portName(name: string): string {
  let n = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/[a-z]/.test(n)) n = `p-${n}`;
  if (n.length > 15) n = `${n.slice(0, 10).replace(/-+$/, '')}-${shortHash(name, 4)}`;
  return n;
}

/** A label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and ending alphanumeric. */
export function labelValue(value: string): string {
  let v = value.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  if (v.length > MAX_NAME)
    v = `${v.slice(0, MAX_NAME - 9).replace(/[^A-Za-z0-9]+$/, '')}-${shortHash(value)}`;
  return v;
}

/** A ConfigMap key (`[-._a-zA-Z0-9]+`). */
export function configMapKey(path: string): string {
  return path.replace(/^\/+/, '').replace(/[^-._a-zA-Z0-9]+/g, '_');
}
