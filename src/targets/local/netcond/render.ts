/**
 * Network conditions of an emulated cluster, rendered into the kernel objects that make them — all in the
 * cluster's switch namespace, where every node's underlay port `u<i>` and fabric ports `f<i>k<K>` sit on
 * their bridges (they never move, unlike a node's fabric NIC, which may move into a rank):
 *
 * - rate (and delay, when the kernel has netem) of frames **to** a node: an htb on the port's egress;
 * - of frames **from** a node: the port's ingress redirected (u32 match-all + mirred) to an ifb `i<port>`
 *   that carries the same htb;
 * - a link (two nodes) or traffic between topology blocks: an nft `bridge` rule marks the frames in the
 *   forward hook, and an htb class on the receiving port takes the marked frames (u32 `match mark`);
 * - loss: nft `numgen random mod 10000 < P×100 drop` on the port (in or out) or port pair;
 * - partition: nft drops between the ports of two groups of nodes (underlay and every rail).
 *
 * VXLAN overlays ride the underlay ports, so conditions there reach overlay traffic too; fabric conditions
 * touch the rail bridges only. Pure: conditions in, `tc`/`ip` batch lines and an nft ruleset out.
 */
import type { LinkShape } from '../../../api/inventory.js';
import type { ConditionTarget, Direction } from '../../../spec/netcond.js';
import { formatDuration, formatRate } from '../../../spec/netcond.js';

export type ConditionSource = 'profile' | 'cli' | 'schedule';

export interface NetCondition {
  readonly id: number;
  readonly source: ConditionSource;
  /** ISO time the condition was set. */
  readonly since: string;
  readonly kind: 'shape' | 'partition';
  /** shape: where. `betweenBlocks` = traffic between nodes of different topology blocks (every NIC). */
  readonly target: ConditionTarget & { readonly betweenBlocks?: boolean };
  /** Relative to the node (for a link, its first node): `to` = frames it receives, `from` = frames it sends. */
  readonly direction: Direction;
  readonly shape: LinkShape;
  /** partition: the two groups cut apart. */
  readonly groups?: readonly [readonly string[], readonly string[]];
  /** Free text: which schedule step set it, or the profile entry. */
  readonly note?: string;
}

export interface Topology {
  readonly nodes: readonly { readonly name: string; readonly index: number; readonly block?: string }[];
  readonly fabricNics: number;
  /** nft table (bridge family) of the conditions, in the switch namespace. */
  readonly table: string;
}

/** What is in the switch namespace after applying: needed to clear it again. */
export interface Applied {
  /** Ports with an htb root qdisc. */
  readonly root: readonly string[];
  /** Ports with an ingress qdisc (redirect to their ifb). */
  readonly ingress: readonly string[];
  readonly ifbs: readonly string[];
  readonly table: boolean;
}

export const NOTHING_APPLIED: Applied = { root: [], ingress: [], ifbs: [], table: false };

export interface Rendered {
  /** `tc -batch` lines that install everything (after `clearLines` of the previous state). */
  readonly tc: readonly string[];
  /** ifb devices needed. */
  readonly ifbs: readonly string[];
  /** The nft ruleset, or '' when no rule is needed. */
  readonly nft: string;
  readonly applied: Applied;
  /** Some condition has a delay (needs netem). */
  readonly needsNetem: boolean;
}

/** Rate of a class that should not limit (delay only): far above what veths carry here. */
export const UNLIMITED = 1e12;
const MARK_BASE = 0x6d6e0000;

export function underlayPort(index: number): string {
  return `u${index}`;
}
export function fabricPort(index: number, rail: number): string {
  return `f${index}k${rail}`;
}
export function ifbFor(port: string): string {
  return `i${port}`;
}

interface Marked {
  readonly mark: number;
  readonly rate?: number;
  readonly delayMs?: number;
}
interface Agg {
  rate?: number | undefined;
  delayMs?: number | undefined;
  marked: Marked[];
}

function minDef(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
function maxDef(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

/** `{ "u1", "u2" }` — an anonymous nft set of interface names. */
function ifset(ports: readonly string[]): string {
  return `{ ${ports.map((p) => `"${p}"`).join(', ')} }`;
}

/** nft expression that is true for P percent of packets (two decimals). */
export function lossExpr(percent: number): string {
  return `numgen random mod 10000 < ${Math.round(percent * 100)}`;
}

/** htb burst: 2 ms at the rate, at least 64 KiB (veths hand over 64 KiB GSO frames), at most 16 MiB. */
export function burstBytes(rate: number): number {
  return Math.min(16 * 2 ** 20, Math.max(65536, Math.ceil(rate / 8 / 500)));
}
function quantum(rate: number): number {
  return Math.min(200_000, Math.max(1514, Math.floor(rate / 8 / 10)));
}
function htbClass(dev: string, parent: string, classid: string, rate: number): string {
  const b = burstBytes(rate);
  return `class add dev ${dev} parent ${parent} classid ${classid} htb rate ${rate}bit ceil ${rate}bit burst ${b} cburst ${b} quantum ${quantum(rate)}`;
}

function htbLines(dev: string, agg: Agg): string[] {
  const out: string[] = [];
  const hasAgg = agg.rate !== undefined || agg.delayMs !== undefined;
  out.push(`qdisc add dev ${dev} root handle 1: htb default ${hasAgg ? 2 : 0}`);
  const cap = agg.rate ?? UNLIMITED;
  let parent = '1:';
  if (hasAgg) {
    out.push(htbClass(dev, '1:', '1:1', cap), htbClass(dev, '1:1', '1:2', cap));
    if (agg.delayMs !== undefined)
      out.push(`qdisc add dev ${dev} parent 1:2 handle 2: netem delay ${agg.delayMs}ms limit 100000`);
    parent = '1:1';
  }
  agg.marked.forEach((m, j) => {
    const minor = (0x10 + j).toString(16);
    out.push(htbClass(dev, parent, `1:${minor}`, Math.min(m.rate ?? UNLIMITED, cap)));
    if (m.delayMs !== undefined)
      out.push(
        `qdisc add dev ${dev} parent 1:${minor} handle ${minor}: netem delay ${m.delayMs}ms limit 100000`,
      );
    out.push(
      `filter add dev ${dev} parent 1: protocol all prio 1 u32 match mark 0x${m.mark.toString(16)} 0xffffffff flowid 1:${minor}`,
    );
  });
  return out;
}

/** Renders every condition (in id order) for a cluster; throws on a name that is not a node or rail. */
export function renderConditions(topo: Topology, conditions: readonly NetCondition[]): Rendered {
  const byName = new Map(topo.nodes.map((n) => [n.name, n]));
  const node = (name: string) => {
    const n = byName.get(name);
    if (!n) throw new Error(`node ${name} is not in the cluster`);
    return n;
  };
  const allPorts = (index: number): string[] => [
    underlayPort(index),
    ...Array.from({ length: topo.fabricNics }, (_, k) => fabricPort(index, k)),
  ];
  const portOf = (index: number, rail: number | undefined): string => {
    if (rail === undefined) return underlayPort(index);
    if (!Number.isInteger(rail) || rail < 0 || rail >= topo.fabricNics)
      throw new Error(`rail ${rail} does not exist: the cluster has ${topo.fabricNics} fabric rail(s)`);
    return fabricPort(index, rail);
  };
  const to = new Map<string, Agg>();
  const from = new Map<string, Agg>();
  const agg = (m: Map<string, Agg>, port: string): Agg => {
    let a = m.get(port);
    if (!a) m.set(port, (a = { marked: [] }));
    return a;
  };
  const drops: string[] = [];
  const marks: string[] = [];
  let nextMark = MARK_BASE + 1;
  let needsNetem = false;

  for (const c of [...conditions].sort((a, b) => a.id - b.id)) {
    if (c.kind === 'partition') {
      const [ga, gb] = c.groups ?? [[], []];
      const pa = ga.flatMap((n) => allPorts(node(n).index));
      const pb = gb.flatMap((n) => allPorts(node(n).index));
      if (pa.length === 0 || pb.length === 0) continue;
      drops.push(
        `iifname ${ifset(pa)} oifname ${ifset(pb)} drop comment "partition #${c.id}"`,
        `iifname ${ifset(pb)} oifname ${ifset(pa)} drop comment "partition #${c.id}"`,
      );
      continue;
    }
    const { rate, loss, delayMs } = c.shape;
    if (delayMs !== undefined) needsNetem = true;
    const shaped = rate !== undefined || delayMs !== undefined;
    const dirTo = c.direction !== 'from';
    const dirFrom = c.direction !== 'to';
    const lossRule = (match: string) => {
      if (loss !== undefined && loss > 0)
        drops.push(`${match} ${lossExpr(loss)} drop comment "loss #${c.id}"`);
    };
    const markRule = (match: string): number => {
      const mark = nextMark++;
      marks.push(`${match} meta mark set 0x${mark.toString(16)} comment "#${c.id}"`);
      return mark;
    };
    if (c.target.betweenBlocks === true) {
      const blocks = new Map<string, string[]>();
      for (const n of topo.nodes) {
        const b = n.block ?? '';
        blocks.set(b, [...(blocks.get(b) ?? []), ...allPorts(n.index)]);
      }
      if (blocks.size < 2) continue;
      const every = topo.nodes.flatMap((n) => allPorts(n.index));
      const mark = shaped ? nextMark++ : 0;
      for (const inside of blocks.values()) {
        const outside = every.filter((p) => !inside.includes(p));
        const match = `iifname ${ifset(inside)} oifname ${ifset(outside)}`;
        lossRule(match);
        if (shaped) marks.push(`${match} meta mark set 0x${mark.toString(16)} comment "#${c.id}"`);
      }
      if (shaped) for (const p of every) agg(to, p).marked.push({ mark, ...c.shape });
      continue;
    }
    if (c.target.link) {
      const [a, b] = c.target.link;
      const pa = portOf(node(a).index, c.target.rail);
      const pb = portOf(node(b).index, c.target.rail);
      const pairs: [string, string][] = [];
      if (dirFrom) pairs.push([pa, pb]);
      if (dirTo) pairs.push([pb, pa]);
      for (const [src, dst] of pairs) {
        const match = `iifname "${src}" oifname "${dst}"`;
        lossRule(match);
        if (shaped) agg(to, dst).marked.push({ mark: markRule(match), ...c.shape });
      }
      continue;
    }
    const names = c.target.nodes ?? topo.nodes.map((n) => n.name);
    const ports = names.map((n) => portOf(node(n).index, c.target.rail));
    if (ports.length === 0) continue;
    if (dirFrom) lossRule(`iifname ${ifset(ports)}`);
    if (dirTo) lossRule(`oifname ${ifset(ports)}`);
    if (!shaped) continue;
    for (const p of ports)
      for (const [dir, on] of [
        [to, dirTo],
        [from, dirFrom],
      ] as const) {
        if (!on) continue;
        const a = agg(dir, p);
        a.rate = minDef(a.rate, rate);
        a.delayMs = maxDef(a.delayMs, delayMs);
      }
  }

  const tc: string[] = [];
  const root = [...to.keys()].sort();
  for (const p of root) tc.push(...htbLines(p, to.get(p) ?? { marked: [] }));
  const ingress = [...from.keys()].sort();
  for (const p of ingress) {
    const ifb = ifbFor(p);
    tc.push(
      `qdisc add dev ${p} handle ffff: ingress`,
      `filter add dev ${p} parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
      ...htbLines(ifb, from.get(p) ?? { marked: [] }),
    );
  }
  const rules = [...drops, ...marks];
  const nft =
    rules.length === 0
      ? ''
      : `table bridge ${topo.table} {
  chain forward {
    type filter hook forward priority -10; policy accept;
${rules.map((r) => `    ${r}\n`).join('')}  }
}
`;
  const ifbs = ingress.map(ifbFor);
  return { tc, ifbs, nft, needsNetem, applied: { root, ingress, ifbs, table: nft !== '' } };
}

/** `tc -batch` lines that remove what `applied` says is there (ifbs go with `ifbLines`). */
export function clearLines(applied: Applied): string[] {
  return [
    ...applied.root.map((p) => `qdisc del dev ${p} root`),
    ...applied.ingress.map((p) => `qdisc del dev ${p} ingress`),
    ...applied.ifbs.map((d) => `qdisc del dev ${d} root`),
  ];
}

/**
 * Link group the ifbs to remove are put in, so one `link del group` removes them all in one unregister
 * (one RCU grace period instead of one per device: 64 ifbs go in ~0.25 s instead of ~1.9 s).
 */
export const DOOMED_IFB_GROUP = 99;

/** `ip -batch` lines: ifbs no longer needed go, new ones come (up). */
export function ifbLines(
  before: readonly string[],
  after: readonly string[],
): { del: string[]; add: string[] } {
  const gone = before.filter((d) => !after.includes(d));
  return {
    del:
      gone.length === 0
        ? []
        : [
            ...gone.map((d) => `link set ${d} group ${DOOMED_IFB_GROUP}`),
            `link del group ${DOOMED_IFB_GROUP}`,
          ],
    add: after
      .filter((d) => !before.includes(d))
      .flatMap((d) => [`link add ${d} txqueuelen 1000 type ifb`, `link set ${d} up`]),
  };
}

/** nft input that replaces the table atomically with `ruleset` (or removes it when `ruleset` is ''). */
export function nftReplace(table: string, ruleset: string): string {
  return `table bridge ${table} {}\ndelete table bridge ${table}\n${ruleset}`;
}

/** One line a person reads: `node-1,node-2 underlay: rate 1gbit, loss 5% (both)`. */
export function describeTarget(c: NetCondition): string {
  if (c.kind === 'partition') {
    const [a, b] = c.groups ?? [[], []];
    return `partition ${a.join(',')} | ${b.join(',')}`;
  }
  const nic = c.target.rail === undefined ? 'underlay' : `rail ${c.target.rail}`;
  if (c.target.betweenBlocks === true) return 'between blocks (every NIC)';
  if (c.target.link) return `link ${c.target.link[0]}<->${c.target.link[1]} ${nic}`;
  return `${c.target.nodes ? c.target.nodes.join(',') : 'every node'} ${nic}`;
}

export function describeShape(c: NetCondition): string {
  if (c.kind === 'partition') return 'drop all';
  const parts: string[] = [];
  if (c.shape.rate !== undefined) parts.push(`rate ${formatRate(c.shape.rate)}`);
  if (c.shape.loss !== undefined) parts.push(`loss ${c.shape.loss}%`);
  if (c.shape.delayMs !== undefined) parts.push(`delay ${formatDuration(c.shape.delayMs)}`);
  return parts.join(', ');
}

export function describeCondition(c: NetCondition): string {
  const dir = c.kind === 'partition' || c.direction === 'both' ? '' : ` (${c.direction} only)`;
  return `#${c.id} ${describeTarget(c)}: ${describeShape(c)}${dir} [${c.source}]`;
}
