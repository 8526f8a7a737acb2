/**
 * Gang placement of one service: choose a node for every rank, or none at all.
 *
 * Algorithm (deterministic, first fit in inventory order):
 * - `spread` (default) puts at most one rank of the service on a node; `pack` lets a node take as many ranks
 *   as its free resources allow (a fixed host port or a fabric NIC still limits a node to one rank).
 * - Without a topology key, nodes are scanned in inventory order and taken while they fit.
 * - With a topology key (`block`, `rack`), nodes are scanned in inventory order and grouped by that label;
 *   the first group to accumulate room for every rank wins and the scan stops there. When no group can, `required`
 *   fails and `preferred` falls back to the fewest groups: groups by capacity (largest first, then first
 *   seen), with a warning.
 * - Rank order follows node order: rank 0 is on the first chosen node.
 * Invariant: the result uses each node at most `capacity` times, so nothing is double-booked; when it fails,
 * every node that could not take a rank is explained.
 */
import type { InfeasibleReason } from '../api/plan.js';
import type { ClusterState, RankNeed } from './cluster-state.js';

export interface PlacementRequest {
  readonly need: RankNeed;
  readonly ranks: number;
  readonly strategy: 'spread' | 'pack';
  readonly topologyKey?: string;
  readonly topologyMode: 'preferred' | 'required';
  /** Formats a byte count the way the spec wrote its memory size. */
  readonly formatBytes: (bytes: number) => string;
  /** Nodes not to use (an earlier role of the same service placed under `spread` holds them). */
  readonly avoid?: ReadonlySet<number>;
}

export type PlacementOutcome =
  | { readonly ok: true; readonly nodes: readonly number[]; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly reason: InfeasibleReason };

interface Group {
  readonly value: string | undefined;
  readonly order: number;
  slots: number;
  readonly picks: [number, number][];
}

const MAX_NODE_LINES = 50;

export function placeGang(cluster: ClusterState, req: PlacementRequest): PlacementOutcome {
  const n = cluster.nodes.length;
  const maxPer = req.strategy === 'pack' ? req.ranks : 1;
  if (req.topologyKey === undefined) {
    const picks: number[] = [];
    for (
      let i = cluster.nextCandidate(0, req.need);
      i < n && picks.length < req.ranks;
      i = cluster.nextCandidate(i + 1, req.need)
    ) {
      if (req.avoid?.has(i)) continue;
      const c = cluster.capacity(i, req.need, Math.min(maxPer, req.ranks - picks.length));
      for (let k = 0; k < c; k++) picks.push(i);
    }
    if (picks.length === req.ranks) return { ok: true, nodes: picks, warnings: [] };
    return { ok: false, reason: explainInfeasible(cluster, req, picks.length, []) };
  }

  const key = req.topologyKey;
  const groups = new Map<string | undefined, Group>();
  for (let i = cluster.nextCandidate(0, req.need); i < n; i = cluster.nextCandidate(i + 1, req.need)) {
    if (req.avoid?.has(i)) continue;
    const c = cluster.capacity(i, req.need, maxPer);
    if (c <= 0) continue;
    const value = cluster.node(i).labels[key];
    let g = groups.get(value);
    if (!g) {
      g = { value, order: groups.size, slots: 0, picks: [] };
      groups.set(value, g);
    }
    g.slots += c;
    g.picks.push([i, c]);
    if (value !== undefined && g.slots >= req.ranks)
      return { ok: true, nodes: expand(g.picks, req.ranks), warnings: [] };
  }
  const list = [...groups.values()];
  const total = list.reduce((s, g) => s + g.slots, 0);
  const labelled = list.filter((g) => g.value !== undefined);
  if (req.topologyMode === 'required' || total < req.ranks) {
    return { ok: false, reason: explainInfeasible(cluster, req, total, labelled) };
  }
  // Preferred: span the fewest groups; unlabelled nodes last.
  list.sort((a, b) =>
    a.value === undefined ? 1 : b.value === undefined ? -1 : b.slots - a.slots || a.order - b.order,
  );
  const picks: [number, number][] = [];
  const used: string[] = [];
  let have = 0;
  for (const g of list) {
    if (have >= req.ranks) break;
    picks.push(...g.picks);
    used.push(`${g.value ?? `(no ${key} label)`} (${Math.min(g.slots, req.ranks - have)})`);
    have += g.slots;
  }
  return {
    ok: true,
    nodes: expand(picks, req.ranks),
    warnings: [
      `no single ${key} has room for all ${req.ranks} ranks of ${req.need.service}; the ranks span ${used.join(', ')}`,
    ],
  };
}

function expand(picks: readonly (readonly [number, number])[], ranks: number): number[] {
  const out: number[] = [];
  for (const [i, c] of picks) for (let k = 0; k < c && out.length < ranks; k++) out.push(i);
  return out;
}

/** Words a person can act on: what one rank needs, how many nodes qualify, why the others do not. */
export function describeNeed(need: RankNeed, formatBytes: (b: number) => string): string {
  const parts: string[] = [];
  if (need.gpus > 0) {
    const model = need.gpuModelText ?? need.gpuModel;
    parts.push(
      model === undefined ? `${need.gpus} GPU${need.gpus === 1 ? '' : 's'}` : `${need.gpus}× ${model}`,
    );
  }
  parts.push(`${need.cores} core${need.cores === 1 ? '' : 's'}`);
  parts.push(`${formatBytes(need.memoryBytes)} memory`);
  if (need.nics.length > 0) parts.push(`fabric NICs ${need.nics.join(', ')}`);
  if (need.fixedPorts.length > 0) parts.push(`host ports ${need.fixedPorts.join(', ')}`);
  const last = parts.pop() ?? '';
  return `${parts.length > 0 ? `${parts.join(', ')} and ` : ''}${last} free`;
}

function explainInfeasible(
  cluster: ClusterState,
  req: PlacementRequest,
  slots: number,
  groups: readonly Group[],
): InfeasibleReason {
  const need = req.need;
  const what = describeNeed(need, req.formatBytes);
  const lines: string[] = [];
  const qualifying: string[] = [];
  for (let i = 0; i < cluster.nodes.length; i++) {
    const why = cluster.explain(i, need, req.formatBytes);
    const name = cluster.node(i).name;
    if (why.length === 0) qualifying.push(name);
    else lines.push(`${name}: ${why.join('; ')}`);
  }
  const exclusive = need.exclusive ? ' (whole nodes, exclusive)' : '';
  let summary =
    req.strategy === 'pack'
      ? `needs room for ${req.ranks} ranks, each with ${what}${exclusive}; the nodes that qualify hold ${slots}`
      : `needs ${req.ranks} node${req.ranks === 1 ? '' : 's'} with ${what}${exclusive}; ${qualifying.length} of ${cluster.nodes.length} qualif${qualifying.length === 1 ? 'ies' : 'y'}`;
  if (req.topologyKey !== undefined && req.topologyMode === 'required' && slots >= req.ranks) {
    const sizes = [...groups].sort((a, b) => b.slots - a.slots || a.order - b.order).slice(0, 5);
    summary += `, but no single ${req.topologyKey} has room for all of them (${sizes
      .map((g) => `${g.value ?? '?'}: ${g.slots}`)
      .join(', ')}${groups.length > 5 ? ', …' : ''})`;
  } else if (lines.length > 0) {
    summary += `: ${lines.slice(0, 3).join(', ')}${lines.length > 3 ? ', …' : ''}`;
  }
  const nodes =
    lines.length > MAX_NODE_LINES
      ? [
          ...lines.slice(0, MAX_NODE_LINES),
          `… and ${lines.length - MAX_NODE_LINES} more nodes that do not qualify`,
        ]
      : lines;
  return { service: need.service, summary, nodes };
}
