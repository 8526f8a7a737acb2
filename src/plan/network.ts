/**
 * Cluster-network addressing. Overlay: each service gets a /24 cut from `options.overlayPool` and a VXLAN id
 * from `options.vniRange`, each chosen by a seeded start and a linear probe, never one that an already placed
 * service (inventory or earlier in this spec) holds, nor a /24 holding a node address. The gateway is `.1`,
 * rank r gets `.(r+2)`. Host: ranks use their node's address; the subnet is the underlay when every node
 * address is inside it, else the smallest CIDR covering the ranks' nodes.
 */
import type { Inventory } from '../api/inventory.js';
import { DEFAULTS } from '../api/names.js';
import type { Cidr } from '../lib/ipv4.js';
import {
  cidrContains,
  cidrsOverlap,
  coveringCidr,
  formatCidr,
  formatIpv4,
  parseCidr,
  parseIpv4,
} from '../lib/ipv4.js';
import { pickStart } from './prng.js';

/** Largest rank count a /24 overlay can address (.2 … .254). */
export const MAX_OVERLAY_RANKS = 253;

export class AddressBook {
  private readonly pool: Cidr;
  private readonly slices: number;
  private readonly usedSlices = new Set<number>();
  private readonly usedVnis = new Set<number>();
  private readonly vniFrom: number;
  private readonly vniTo: number;

  constructor(inventory: Inventory, overlayPool: string, vniRange: { from: number; to: number }) {
    const pool = parseCidr(overlayPool);
    if (!pool || pool.prefix > 24)
      throw new RangeError(`overlayPool must be a CIDR of /24 or larger, got ${overlayPool}`);
    this.pool = pool;
    this.slices = 2 ** (24 - pool.prefix);
    this.vniFrom = vniRange.from;
    this.vniTo = vniRange.to;
    for (const s of inventory.services) {
      if (s.vni !== undefined) this.usedVnis.add(s.vni);
      const c = s.subnet === undefined ? undefined : parseCidr(s.subnet);
      if (c) this.markCidr(c);
    }
    for (const node of inventory.nodes) {
      const ip = parseIpv4(node.address);
      if (ip !== undefined && cidrContains(pool, ip)) this.usedSlices.add((ip - pool.base) >>> 8);
    }
  }

  private markCidr(c: Cidr): void {
    if (!cidrsOverlap(c, this.pool)) return;
    if (c.prefix >= 24) {
      this.usedSlices.add(((c.base >>> 0) - this.pool.base) >>> 8);
      return;
    }
    const lo = Math.max(c.base, this.pool.base);
    const count = 2 ** (24 - Math.max(c.prefix, this.pool.prefix));
    const first = (lo - this.pool.base) >>> 8;
    for (let k = 0; k < count; k++) this.usedSlices.add(first + k);
  }

  /** A free /24 for `service`, or undefined when the pool is exhausted. */
  takeSubnet(seed: number, service: string): Cidr | undefined {
    const start = pickStart(seed, `subnet:${service}`, this.slices);
    for (let k = 0; k < this.slices; k++) {
      const slice = (start + k) % this.slices;
      if (this.usedSlices.has(slice)) continue;
      this.usedSlices.add(slice);
      return { base: (this.pool.base + slice * 256) >>> 0, prefix: 24 };
    }
    return undefined;
  }

  /** A free VXLAN id for `service`, or undefined when the range is exhausted. */
  takeVni(seed: number, service: string): number | undefined {
    const size = this.vniTo - this.vniFrom + 1;
    if (size <= 0) return undefined;
    const start = pickStart(seed, `vni:${service}`, size);
    for (let k = 0; k < size && k < 1_000_000; k++) {
      const vni = this.vniFrom + ((start + k) % size);
      if (this.usedVnis.has(vni)) continue;
      this.usedVnis.add(vni);
      return vni;
    }
    return undefined;
  }
}

export function overlayAddress(subnet: Cidr, rank: number): string {
  return formatIpv4(subnet.base + 2 + rank);
}

export function overlayGateway(subnet: Cidr): string {
  return formatIpv4(subnet.base + 1);
}

/** The subnet host-mode ranks talk over: the underlay when every address is in it, else a covering CIDR. */
export function hostSubnet(addresses: readonly string[]): string {
  const underlay = parseCidr(DEFAULTS.underlaySubnet);
  const ips = addresses.map((a) => parseIpv4(a)).filter((x): x is number => x !== undefined);
  if (underlay && ips.every((ip) => cidrContains(underlay, ip))) return DEFAULTS.underlaySubnet;
  return formatCidr(coveringCidr(ips));
}

export { formatCidr };
