/**
 * IPv4 helpers on unsigned 32-bit integers: parse/format addresses and CIDRs, containment, and the smallest
 * CIDR covering a set of addresses.
 */

export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = Number(m[i]);
    if (part > 255) return undefined;
    n = n * 256 + part;
  }
  return n >>> 0;
}

export function formatIpv4(n: number): string {
  const v = n >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, ...rest] = text.trim().split('/');
  if (addr === undefined || len === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len)) return undefined;
  const ip = parseIpv4(addr);
  const prefix = Number(len);
  if (ip === undefined || prefix > 32) return undefined;
  return { base: (ip & maskOf(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.prefix)) >>> 0 === c.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(p);
  return (a.base & m) >>> 0 === (b.base & m) >>> 0;
}

/** The smallest CIDR containing every address (`/32` for one). */
export function coveringCidr(ips: readonly number[]): Cidr {
  if (ips.length === 0) return { base: 0, prefix: 0 };
  let prefix = 32;
  const first = ips[0] ?? 0;
  for (const ip of ips) {
    while (prefix > 0 && (ip & maskOf(prefix)) >>> 0 !== (first & maskOf(prefix)) >>> 0) prefix--;
  }
  return { base: (first & maskOf(prefix)) >>> 0, prefix };
}
