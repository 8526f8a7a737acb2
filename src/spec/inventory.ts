/**
 * The inventory file: the nodes a plan may use (`multinode plan --inventory FILE`), parsed and validated like
 * a spec — YAML with source positions, a strict zod schema (unknown keys are errors with a "did you mean"),
 * then semantic checks — every problem collected and located. Pure: text in, `Result<Inventory>` out.
 *
 * Shape (docs/reference/inventory.md has the reference):
 *   version: v1                 # optional
 *   name: lab                   # optional, default "inventory"
 *   defaults: { …node fields… } # optional, merged under every node (node fields win, labels merged)
 *   nodes: [ { name, address, cpus | numa, numa-domains, memory, gpus, fabric-nics, labels, taken, listening } ]
 *   services: [ { name, subnet, vni } ]   # already placed: their subnets / VXLAN ids are not reused
 *   links: { underlay, fabric, between-blocks: {rate, loss, delay} }   # link profile (spec/netcond.ts)
 * Shorthands: `cpus: 32` (split over `numa-domains`, default 1) or `numa: [{id, cpus: "0-15"}]`;
 * `gpus: {count, model}` (spread over the domains) or a list `[{index, model, numa}]`; `fabric-nics: K`
 * (`fabric0…`) or a list `[{name, address, numa}]`; CPU lists as `"0-3,8"` or `[0, 1, 2]`.
 */
import * as z from 'zod';
import type {
  FabricNic,
  GpuDevice,
  Inventory,
  InventoryNode,
  NumaDomain,
  PlacedService,
} from '../api/inventory.js';
import type { Issue, Result, SourcePos } from '../api/issues.js';
import { locate } from './locate.js';
import { LinksSchema, buildLinks } from './netcond.js';
import { MEMORY_PATTERN, parseMemorySize } from './units.js';
import { notAMapping, parseYamlWithPositions } from './yaml-source.js';
import { zodIssuesToIssues } from './zod-issues.js';

/** Stable issue codes of the inventory file (besides the spec layer's YAML and schema codes). */
export const INVENTORY_CODES = {
  duplicateNode: 'inventory-duplicate-node',
  duplicateAddress: 'inventory-duplicate-address',
  address: 'inventory-address',
  cpuList: 'inventory-cpu-list',
  numa: 'inventory-numa',
  gpu: 'inventory-gpu',
  nic: 'inventory-nic',
  taken: 'inventory-taken',
  subnet: 'inventory-subnet',
  noNodes: 'inventory-no-nodes',
} as const;

const memory = z.union([z.string().regex(new RegExp(MEMORY_PATTERN)), z.number().int().nonnegative()]);
const cpuList = z.union([z.string(), z.array(z.number().int().nonnegative())]);
const port = z.number().int().min(1).max(65535);
const name = z.string().min(1).max(253);

const GpuShorthand = z.strictObject({ count: z.number().int().nonnegative(), model: z.string().min(1) });
const GpuList = z.array(
  z.strictObject({
    index: z.number().int().nonnegative(),
    model: z.string().min(1),
    numa: z.number().int().nonnegative().optional(),
  }),
);
const NicList = z.array(
  z.strictObject({
    name: z.string().min(1),
    address: z.string().optional(),
    numa: z.number().int().nonnegative().optional(),
  }),
);

const nodeFields = {
  address: z.string().optional(),
  cpus: z.number().int().positive().optional(),
  'numa-domains': z.number().int().positive().optional(),
  numa: z.array(z.strictObject({ id: z.number().int().nonnegative(), cpus: cpuList })).optional(),
  memory: memory.optional(),
  gpus: z.union([GpuShorthand, GpuList]).optional(),
  'fabric-nics': z.union([z.number().int().nonnegative(), NicList]).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  taken: z
    .strictObject({
      cpus: cpuList.optional(),
      memory: memory.optional(),
      gpus: z.array(z.number().int().nonnegative()).optional(),
      'fabric-nics': z.array(z.string()).optional(),
      ports: z.array(port).optional(),
      services: z.array(z.string()).optional(),
      exclusive: z.boolean().optional(),
    })
    .optional(),
  listening: z.array(port).optional(),
};

const NodeSchema = z.strictObject({ name, ...nodeFields });
const DefaultsSchema = z.strictObject(nodeFields);

export const InventorySchema = z.strictObject({
  version: z.literal('v1').optional(),
  name: z.string().min(1).optional(),
  defaults: DefaultsSchema.optional(),
  nodes: z.array(NodeSchema),
  services: z
    .array(
      z.strictObject({
        name,
        subnet: z.string().optional(),
        vni: z.number().int().min(1).max(16_777_215).optional(),
      }),
    )
    .optional(),
  links: LinksSchema.optional(),
});

type RawNode = z.infer<typeof NodeSchema>;
type RawDefaults = z.infer<typeof DefaultsSchema>;

export function parseInventory(text: string, file: string): Result<Inventory> {
  const src = parseYamlWithPositions(text, file);
  const issues: Issue[] = [...src.issues];
  if (issues.some((i) => i.severity === 'error')) return { ok: false, issues };
  const shape = notAMapping(
    src,
    file,
    'an inventory is a mapping with `nodes` (and optionally `version`, `name`, `defaults`, `services`)',
  );
  if (shape) return { ok: false, issues: [...issues, shape] };
  const parsed = InventorySchema.safeParse(src.data);
  if (!parsed.success) {
    issues.push(
      ...zodIssuesToIssues(InventorySchema, parsed.error.issues, {
        file,
        positions: src.positions,
        keyPositions: src.keyPositions,
      }),
    );
    return { ok: false, issues: sortIssues(issues) };
  }
  const raw = parsed.data;
  const at = (path: string): SourcePos => locate(src.positions, path, file);
  const err = (code: string, path: string, message: string, hint?: string): void => {
    issues.push({ code, severity: 'error', path, pos: at(path), message, ...(hint ? { hint } : {}) });
  };

  if (raw.nodes.length === 0)
    err(INVENTORY_CODES.noNodes, 'nodes', 'the inventory lists no nodes; add at least one');
  const nodes: InventoryNode[] = [];
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  raw.nodes.forEach((rawNode, k) => {
    const base = `nodes[${k}]`;
    const node = buildNode(mergeDefaults(raw.defaults, rawNode), base, err);
    const prevName = names.get(node.name);
    if (prevName !== undefined)
      err(
        INVENTORY_CODES.duplicateNode,
        `${base}.name`,
        `node name ${node.name} is already used by nodes[${prevName}]`,
      );
    else names.set(node.name, k);
    const prevAddr = addresses.get(node.address);
    if (prevAddr !== undefined)
      err(
        INVENTORY_CODES.duplicateAddress,
        `${base}.address`,
        `address ${node.address} is already used by nodes[${prevAddr}]`,
      );
    else addresses.set(node.address, k);
    nodes.push(node);
  });
  const services: PlacedService[] = (raw.services ?? []).map((s, k) => {
    if (s.subnet !== undefined && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(s.subnet))
      err(
        INVENTORY_CODES.subnet,
        `services[${k}].subnet`,
        `subnet ${JSON.stringify(s.subnet)} is not an IPv4 CIDR such as 198.18.131.0/24`,
      );
    return {
      name: s.name,
      ...(s.subnet === undefined ? {} : { subnet: s.subnet }),
      ...(s.vni === undefined ? {} : { vni: s.vni }),
    };
  });
  const links = raw.links ? buildLinks(raw.links, 'links', err) : undefined;
  if (issues.some((i) => i.severity === 'error')) return { ok: false, issues: sortIssues(issues) };
  return {
    ok: true,
    value: { name: raw.name ?? 'inventory', nodes, services, ...(links ? { links } : {}) },
    warnings: issues,
  };
}

function sortIssues(issues: Issue[]): Issue[] {
  return issues.sort(
    (a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0),
  );
}

function mergeDefaults(defaults: RawDefaults | undefined, node: RawNode): RawNode {
  if (!defaults) return node;
  const labels = defaults.labels || node.labels ? { ...defaults.labels, ...node.labels } : undefined;
  // A node's own CPU layout replaces the default one, whichever form each uses.
  const { cpus, 'numa-domains': domains, numa, ...rest } = defaults;
  const layout =
    node.numa !== undefined || node.cpus !== undefined ? {} : { cpus, 'numa-domains': domains, numa };
  const merged: Record<string, unknown> = { ...rest, ...layout, ...node, ...(labels ? { labels } : {}) };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return merged as RawNode;
}

type Err = (code: string, path: string, message: string, hint?: string) => void;

/** `"0-3,8"` or `[0, 1]` → sorted ids; undefined (and an issue) when malformed. */
export function parseCpuList(
  value: string | readonly number[],
  path: string,
  err: Err,
): number[] | undefined {
  if (typeof value !== 'string') return [...new Set(value)].sort((a, b) => a - b);
  const out = new Set<number>();
  const text = value.trim();
  if (text === '') return [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || hi < lo || hi - lo > 65536) {
      err(
        INVENTORY_CODES.cpuList,
        path,
        `CPU list ${JSON.stringify(value)} is malformed`,
        'write ids and ranges like "0-15,32-47", or a list of numbers',
      );
      return undefined;
    }
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

function buildNode(raw: RawNode, base: string, err: Err): InventoryNode {
  const address = raw.address ?? '';
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address) || address.split('.').some((p) => Number(p) > 255))
    err(
      INVENTORY_CODES.address,
      `${base}.address`,
      raw.address === undefined
        ? `node ${raw.name} has no address`
        : `address ${JSON.stringify(address)} is not an IPv4 address`,
      'give the underlay address, e.g. 198.18.0.1',
    );

  // NUMA domains and CPUs.
  let numa: NumaDomain[];
  if (raw.numa) {
    if (raw.cpus !== undefined)
      err(
        INVENTORY_CODES.numa,
        `${base}.cpus`,
        'give either `cpus` (a count) or `numa` (domains with CPU lists), not both',
      );
    const seenIds = new Set<number>();
    const seenCpus = new Map<number, number>();
    numa = raw.numa.map((d, j) => {
      const cpus = parseCpuList(d.cpus, `${base}.numa[${j}].cpus`, err) ?? [];
      if (seenIds.has(d.id))
        err(INVENTORY_CODES.numa, `${base}.numa[${j}].id`, `NUMA domain ${d.id} is listed twice`);
      seenIds.add(d.id);
      for (const c of cpus) {
        const other = seenCpus.get(c);
        if (other !== undefined) {
          err(INVENTORY_CODES.numa, `${base}.numa[${j}].cpus`, `CPU ${c} is also in NUMA domain ${other}`);
          break;
        }
        seenCpus.set(c, d.id);
      }
      return { id: d.id, cpus };
    });
  } else {
    const cores = raw.cpus ?? 1;
    const domains = Math.min(cores, raw['numa-domains'] ?? 1);
    numa = [];
    let next = 0;
    for (let d = 0; d < domains; d++) {
      const size = Math.floor(cores / domains) + (d < cores % domains ? 1 : 0);
      numa.push({ id: d, cpus: Array.from({ length: size }, () => next++) });
    }
  }
  const domainIds = new Set(numa.map((d) => d.id));
  const allCpus = new Set(numa.flatMap((d) => d.cpus));

  // GPUs.
  let gpus: GpuDevice[] = [];
  const g = raw.gpus;
  if (g !== undefined && !Array.isArray(g)) {
    const ids = [...domainIds].sort((a, b) => a - b);
    for (let i = 0; i < g.count; i++) {
      const dom = ids[Math.floor((i * ids.length) / Math.max(1, g.count))];
      gpus.push(dom === undefined ? { index: i, model: g.model } : { index: i, model: g.model, numa: dom });
    }
  } else if (g !== undefined) {
    const seen = new Set<number>();
    gpus = g.map((d, j) => {
      if (seen.has(d.index))
        err(INVENTORY_CODES.gpu, `${base}.gpus[${j}].index`, `GPU index ${d.index} is listed twice`);
      seen.add(d.index);
      if (d.numa !== undefined && !domainIds.has(d.numa))
        err(
          INVENTORY_CODES.gpu,
          `${base}.gpus[${j}].numa`,
          `NUMA domain ${d.numa} does not exist on ${raw.name}; domains: ${[...domainIds].join(', ')}`,
        );
      return d.numa === undefined
        ? { index: d.index, model: d.model }
        : { index: d.index, model: d.model, numa: d.numa };
    });
  }

  // Fabric NICs.
  let fabricNics: FabricNic[] = [];
  const f = raw['fabric-nics'];
  if (typeof f === 'number') {
    const ids = [...domainIds].sort((a, b) => a - b);
    for (let i = 0; i < f; i++) {
      const dom = ids[Math.floor((i * ids.length) / Math.max(1, f))];
      fabricNics.push(dom === undefined ? { name: `fabric${i}` } : { name: `fabric${i}`, numa: dom });
    }
  } else if (f !== undefined) {
    const seen = new Set<string>();
    fabricNics = f.map((nic, j) => {
      if (seen.has(nic.name))
        err(
          INVENTORY_CODES.nic,
          `${base}["fabric-nics"][${j}].name`,
          `fabric NIC ${nic.name} is listed twice`,
        );
      seen.add(nic.name);
      return {
        name: nic.name,
        ...(nic.address === undefined ? {} : { address: nic.address }),
        ...(nic.numa === undefined ? {} : { numa: nic.numa }),
      };
    });
  }

  const memoryBytes = raw.memory === undefined ? 0 : (parseMemorySize(raw.memory) ?? 0);
  const t = raw.taken ?? {};
  const takenCpus = t.cpus === undefined ? [] : (parseCpuList(t.cpus, `${base}.taken.cpus`, err) ?? []);
  const badCpu = takenCpus.find((c) => !allCpus.has(c));
  if (badCpu !== undefined)
    err(INVENTORY_CODES.taken, `${base}.taken.cpus`, `taken CPU ${badCpu} does not exist on ${raw.name}`);
  const takenGpus = [...new Set(t.gpus ?? [])].sort((a, b) => a - b);
  const badGpu = takenGpus.find((x) => !gpus.some((d) => d.index === x));
  if (badGpu !== undefined)
    err(INVENTORY_CODES.taken, `${base}.taken.gpus`, `taken GPU ${badGpu} does not exist on ${raw.name}`);
  const takenNics = [...new Set(t['fabric-nics'] ?? [])].sort();
  const badNic = takenNics.find((x) => !fabricNics.some((n) => n.name === x));
  if (badNic !== undefined)
    err(
      INVENTORY_CODES.taken,
      `${base}.taken["fabric-nics"]`,
      `taken fabric NIC ${badNic} does not exist on ${raw.name}`,
    );
  const takenMem = t.memory === undefined ? 0 : (parseMemorySize(t.memory) ?? 0);
  if (takenMem > memoryBytes)
    err(
      INVENTORY_CODES.taken,
      `${base}.taken.memory`,
      `taken memory is more than the node's ${String(raw.memory ?? 0)}`,
    );

  return {
    name: raw.name,
    address,
    numa,
    memoryBytes,
    gpus,
    fabricNics,
    labels: raw.labels ?? {},
    taken: {
      cpus: takenCpus,
      memoryBytes: takenMem,
      gpus: takenGpus,
      fabricNics: takenNics,
      ports: [...new Set(t.ports ?? [])].sort((a, b) => a - b),
      services: [...new Set(t.services ?? [])].sort(),
      ...(t.exclusive === true ? { exclusive: true } : {}),
    },
    listening: [...new Set(raw.listening ?? [])].sort((a, b) => a - b),
  };
}
