/**
 * Emulated inventories: `generateInventory({ nodes: 4, gpusPerNode: 2, … })` builds N identical nodes.
 *
 * - Names `node-1…node-N` (or `<namePrefix>1…`), addresses counted up from `addressBase` (default
 *   `198.18.0.1`, inside the 198.18.0.0/16 underlay), skipping `.0` and `.255` host octets so more than 254
 *   nodes still get usable addresses.
 * - Cores are split evenly over `numaDomains` (the first domains take the remainder); GPUs and fabric NICs are
 *   spread over the domains in order, so a NUMA-pinned rank can find cores and GPUs on one domain.
 * - Labels: `block` (`block-<b>`, `blocks` contiguous groups) and `rack` (`rack-<b>-<r>`, 8 nodes a rack).
 */
import type { FabricNic, GpuDevice, Inventory, InventoryNode, NumaDomain } from '../api/inventory.js';
import { DEFAULTS } from '../api/names.js';
import { cidrContains, formatIpv4, parseCidr, parseIpv4 } from '../lib/ipv4.js';

export interface GenerateInventoryOptions {
  readonly nodes: number;
  readonly gpusPerNode?: number;
  readonly gpuModel?: string;
  readonly cores?: number;
  readonly memoryBytes?: number;
  readonly fabricNics?: number;
  readonly blocks?: number;
  readonly numaDomains?: number;
  readonly namePrefix?: string;
  readonly addressBase?: string;
  /** Inventory name. Default `generated`. */
  readonly name?: string;
}

export const GENERATED_DEFAULTS = {
  cores: 32,
  memoryBytes: 256 * 2 ** 30,
  gpuModel: 'NVIDIA L4',
  namePrefix: 'node-',
  addressBase: '198.18.0.1',
  rackSize: 8,
} as const;

/** Throws `RangeError` for impossible shapes (programming errors; the CLI validates its flags first). */
export function generateInventory(opts: GenerateInventoryOptions): Inventory {
  const count = intAtLeast('nodes', opts.nodes, 1);
  const gpus = intAtLeast('gpusPerNode', opts.gpusPerNode ?? 0, 0);
  const cores = intAtLeast('cores', opts.cores ?? GENERATED_DEFAULTS.cores, 1);
  const nics = intAtLeast('fabricNics', opts.fabricNics ?? 0, 0);
  const blocks = Math.min(count, intAtLeast('blocks', opts.blocks ?? 1, 1));
  const domains = Math.min(cores, intAtLeast('numaDomains', opts.numaDomains ?? (cores >= 8 ? 2 : 1), 1));
  const memoryBytes = opts.memoryBytes ?? GENERATED_DEFAULTS.memoryBytes;
  const model = opts.gpuModel ?? GENERATED_DEFAULTS.gpuModel;
  const prefix = opts.namePrefix ?? GENERATED_DEFAULTS.namePrefix;
  const base = parseIpv4(opts.addressBase ?? GENERATED_DEFAULTS.addressBase);
  if (base === undefined)
    throw new RangeError(`addressBase is not an IPv4 address: ${String(opts.addressBase)}`);

  const numa = buildNuma(cores, domains);
  const gpuDevices: GpuDevice[] = [];
  for (let g = 0; g < gpus; g++) gpuDevices.push({ index: g, model, numa: Math.floor((g * domains) / gpus) });
  const fabric: FabricNic[] = [];
  for (let k = 0; k < nics; k++) fabric.push({ name: `fabric${k}`, numa: Math.floor((k * domains) / nics) });

  const underlay = parseCidr(DEFAULTS.underlaySubnet);
  const nodes: InventoryNode[] = [];
  let ip = base;
  for (let i = 0; i < count; i++) {
    while ((ip & 255) === 0 || (ip & 255) === 255) ip++;
    if (ip > 0xffffffff) throw new RangeError('ran out of IPv4 addresses');
    if (underlay && cidrContains(underlay, base) && !cidrContains(underlay, ip))
      throw new RangeError(
        `${count} nodes do not fit in the ${DEFAULTS.underlaySubnet} underlay from ${formatIpv4(base)}`,
      );
    const block = Math.floor((i * blocks) / count);
    const blockStart = Math.ceil((block * count) / blocks);
    const rack = Math.floor((i - blockStart) / GENERATED_DEFAULTS.rackSize);
    nodes.push({
      name: `${prefix}${i + 1}`,
      address: formatIpv4(ip),
      numa,
      memoryBytes,
      gpus: gpuDevices,
      fabricNics: fabric,
      labels: { block: `block-${block}`, rack: `rack-${block}-${rack}` },
      taken: { cpus: [], memoryBytes: 0, gpus: [], fabricNics: [], ports: [], services: [] },
      listening: [],
    });
    ip++;
  }
  return { name: opts.name ?? 'generated', nodes, services: [] };
}

function buildNuma(cores: number, domains: number): NumaDomain[] {
  const out: NumaDomain[] = [];
  let next = 0;
  for (let d = 0; d < domains; d++) {
    const size = Math.floor(cores / domains) + (d < cores % domains ? 1 : 0);
    const cpus: number[] = [];
    for (let c = 0; c < size; c++) cpus.push(next++);
    out.push({ id: d, cpus });
  }
  return out;
}

function intAtLeast(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min)
    throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

/**
 * An emulated inventory the spec fits: one node per rank of every service (so exclusive services, fixed host
 * ports and fabric NICs never compete), each node as large as the largest per-node request (cores doubled
 * over two NUMA domains so a NUMA-pinned rank fits in one), the first GPU model asked for, and as many
 * fabric NICs as the highest `fabricN` requested. `overrides` replace any computed value (cores follow an
 * overridden `numaDomains`: the largest request per domain).
 */
export function generateInventoryForSpec(
  spec: { readonly services: readonly ServiceShape[] },
  overrides: Partial<GenerateInventoryOptions> = {},
): Inventory {
  // A role with its own resource sizes the nodes too (it adds no nodes: its members are the service's).
  const services: ServiceShape[] = spec.services.flatMap((s) => [
    s,
    ...(s.roles ?? []).flatMap((r) => (r.resource ? [{ nodes: 0, resource: r.resource }] : [])),
  ]);
  const max = (f: (s: ServiceShape) => number): number => Math.max(0, ...services.map(f));
  const model = services.find((s) => s.resource.gpuModel !== undefined)?.resource.gpuModel;
  const maxCores = Math.max(
    1,
    max((s) => s.resource.cpuCores),
  );
  // Cores are sized per domain, so a caller fixing `numaDomains` gets cores for that many.
  const numa = overrides.numaDomains ?? (services.some((s) => s.resource.cpuAffinity === 'NUMA') ? 2 : 1);
  const nicCount = max((s) =>
    Math.max(0, ...s.resource.fabricNics.map((n) => (/^fabric(\d+)$/.exec(n) ? Number(n.slice(6)) + 1 : 0))),
  );
  const base: GenerateInventoryOptions = {
    name: 'generated',
    nodes: Math.max(
      1,
      services.reduce((n, s) => n + s.nodes, 0),
    ),
    gpusPerNode: max((s) => s.resource.gpus),
    ...(model === undefined ? {} : { gpuModel: model }),
    cores: maxCores * numa,
    numaDomains: numa,
    memoryBytes: Math.max(
      2 ** 30,
      max((s) => s.resource.memoryBytes),
    ),
    fabricNics: nicCount,
  };
  return generateInventory({ ...base, ...overrides });
}

/** The parts of a `ServiceSpec` the generator reads. */
interface ServiceShape {
  readonly nodes: number;
  readonly roles?: readonly { readonly resource?: ServiceShape['resource'] }[];
  readonly resource: {
    readonly cpuCores: number;
    readonly cpuAffinity: 'NUMA' | 'none';
    readonly memoryBytes: number;
    readonly gpus: number;
    readonly gpuModel?: string;
    readonly fabricNics: readonly string[];
  };
}
