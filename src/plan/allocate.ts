/**
 * Resources for one rank on its chosen node: CPU ids, GPU indices, fabric NICs, and host ports.
 *
 * NUMA (`cpu.affinity: NUMA`): the cores come from one domain when one has enough free — preferring a domain
 * that also holds enough free GPUs of the model, then the lowest domain id — and the GPUs are chosen from that
 * domain first. When no single domain has room, cores are taken in domain order and no domain is reported.
 * Without affinity: the lowest free CPU ids and GPU indices. Host ports: a declared or pinned port as is;
 * `auto` and fallbacks probe the safe range from a seeded start, skipping ports in use or cooling down.
 */
import type { GpuDevice } from '../api/inventory.js';
import type { ClusterState, RankNeed } from './cluster-state.js';
import { pickStart } from './prng.js';

export interface RankResources {
  readonly cpus: readonly number[];
  readonly numaNode?: number;
  readonly gpus: readonly number[];
  readonly nics: readonly string[];
}

export function allocateRank(cluster: ClusterState, i: number, need: RankNeed, numa: boolean): RankResources {
  const d = cluster.detail(i);
  const node = cluster.node(i);
  const matching = (g: GpuDevice): boolean =>
    need.gpuModel === undefined || g.model.toLowerCase() === need.gpuModel;
  let cpus: number[] = [];
  let numaNode: number | undefined;
  if (numa && need.cores > 0) {
    let best = -1;
    let bestScore = Infinity;
    for (let k = 0; k < d.freeCpus.length; k++) {
      if ((d.freeCpus[k]?.length ?? 0) < need.cores) continue;
      const dom = node.numa[k]?.id ?? k;
      const gpusHere = d.freeGpus.filter((g) => matching(g) && g.numa === dom).length;
      const score = (need.gpus > 0 && gpusHere < need.gpus ? 1 : 0) * 1e6 + dom;
      if (score < bestScore) {
        bestScore = score;
        best = k;
      }
    }
    if (best >= 0) {
      cpus = (d.freeCpus[best] ?? []).slice(0, need.cores);
      numaNode = node.numa[best]?.id ?? best;
    }
  }
  if (cpus.length === 0 && need.cores > 0) {
    for (const list of d.freeCpus) {
      for (const c of list) {
        if (cpus.length >= need.cores) break;
        cpus.push(c);
      }
    }
    cpus.sort((a, b) => a - b);
    if (numa) {
      const doms = new Set<number>();
      d.freeCpus.forEach((list, k) => {
        if (list.some((c) => cpus.includes(c))) doms.add(node.numa[k]?.id ?? k);
      });
      if (doms.size === 1) numaNode = [...doms][0];
    }
  }
  const candidates = d.freeGpus.filter(matching);
  if (numaNode !== undefined) {
    const dom = numaNode;
    candidates.sort((a, b) => Number(a.numa !== dom) - Number(b.numa !== dom) || a.index - b.index);
  }
  const gpus = candidates
    .slice(0, need.gpus)
    .map((g) => g.index)
    .sort((a, b) => a - b);
  return numaNode === undefined ? { cpus, gpus, nics: need.nics } : { cpus, numaNode, gpus, nics: need.nics };
}

export interface PortPicker {
  readonly seed: number;
  readonly range: { readonly from: number; readonly to: number };
  readonly cooling: Readonly<Record<string, readonly number[]>>;
}

/** A port in the safe range free on node `i` (in use, listening and cooling ports skipped), or undefined. */
export function pickFreePort(
  cluster: ClusterState,
  i: number,
  picker: PortPicker,
  key: string,
): number | undefined {
  const size = picker.range.to - picker.range.from + 1;
  if (size <= 0) return undefined;
  const used = cluster.detail(i).usedPorts;
  const cooling = picker.cooling[cluster.node(i).name] ?? [];
  const start = pickStart(picker.seed, key, size);
  for (let k = 0; k < size; k++) {
    const port = picker.range.from + ((start + k) % size);
    if (!used.has(port) && !cooling.includes(port)) return port;
  }
  return undefined;
}

/** True when `port` can be bound on node `i` (not in use, listening or cooling down). */
export function isPortFree(cluster: ClusterState, i: number, picker: PortPicker, port: number): boolean {
  if (cluster.detail(i).usedPorts.has(port)) return false;
  return !(picker.cooling[cluster.node(i).name] ?? []).includes(port);
}
