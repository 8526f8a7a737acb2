/**
 * Services that use each other on an emulated cluster (docs/guides/roles-and-dependencies.md): the exception
 * in the per-service fence that lets a service reach the declared ports of the leader (rank 0) of each
 * service it uses, and nothing else of it.
 *
 * Every service's node table (network.ts) accepts packets that carry `USES_MARK` before its drops. A grant
 * is one small nft table per using service and used service, on every node of the using service and on the
 * used leader's node, that sets the mark on exactly the packets from the using ranks (their overlay address,
 * or their node's address in host mode) to the leader's address and declared ports (tcp/udp). The mark is a
 * property of the packet inside one namespace (it is cleared when a packet crosses into another), so it is
 * set on each node the packet passes. Replies are `ct state established` in every fence already.
 *
 * Segments are per service, so a node knows no route to another service's segment: a grant adds host routes
 * over the underlay (the leader's address via its node, on the using ranks' nodes; each using rank's address
 * via its node, on the leader's node), with a metric of the grant's own so that grants routing the same
 * address add distinct routes that come and go independently.
 *
 * Everything is recorded in the using service's record (removed on its `down`) and in the used service's
 * record (removed on its `down` too, so a later service given the same address is not reachable).
 */
import { join } from 'node:path';
import { appendFile } from 'node:fs/promises';
import type { RankPlan, ServicePlan, UsePlan } from '../../api/plan.js';
import type { RuntimePorts } from '../ports.js';
import type { ClusterMeta, ClusterNodeMeta } from './cluster.js';
import { netnsExecArgv } from './node-exec.js';
import { serviceNames } from './paths.js';
import type { Resource } from './service-state.js';
import { readServiceState, updateServiceState } from './service-state.js';

/** The packet mark a grant sets and every node table accepts ("MNUS"). */
export const USES_MARK = '0x4d4e5553';

/** What a grant needs of the using service's set-up (a subset of network.ts's NetworkContext). */
export interface UsesContext {
  readonly cluster: ClusterMeta;
  readonly plan: ServicePlan;
  readonly serviceDir: string;
  readonly ports: RuntimePorts;
  readonly record: (r: Resource | readonly Resource[]) => Promise<void>;
}

/** A host route a grant adds in a node (`ip route add DST/32 via VIA metric METRIC`). */
export interface UsesRoute {
  readonly netns: string;
  readonly dst: string;
  readonly via: string;
  readonly metric: number;
}

/** One grant worked out: its nft table in each node, and its routes. */
export interface UsesGrant {
  readonly service: string;
  readonly table: string;
  readonly nodes: readonly string[];
  readonly nft: string;
  readonly routes: readonly UsesRoute[];
  /** The used leader's name and address, for the using ranks' hosts files (overlay). */
  readonly leader: { readonly hostname: string; readonly address: string };
}

/** Name of the grant table of `user` towards `used` in a node. */
export function usesTableName(cluster: string, user: string, used: string): string {
  return `mn_${serviceNames(cluster, user).hash}_u${serviceNames(cluster, used).hash}`;
}

/**
 * The route metric of one grant (a using service towards one used service), in 1024…66559 from both names'
 * hashes: grants that route the same address add distinct routes, each removed on its own.
 */
export function usesMetric(cluster: string, user: string, used: string): number {
  const h = `${serviceNames(cluster, user).hash.slice(0, 2)}${serviceNames(cluster, used).hash.slice(0, 2)}`;
  return 1024 + parseInt(h, 16);
}

function nodeOf(cluster: ClusterMeta, name: string): ClusterNodeMeta | undefined {
  return cluster.nodes.find((x) => x.name === name);
}

/** The grant table: the mark on packets from `sources` to `leader`'s declared ports, in every hook they pass. */
export function renderUsesTable(
  table: string,
  sources: readonly string[],
  leader: string,
  ports: UsePlan['ports'],
): string {
  const rules: string[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const ps = [...new Set(ports.filter((p) => p.protocol === proto).map((p) => p.port))].sort(
      (a, b) => a - b,
    );
    if (ps.length === 0) continue;
    rules.push(
      `    ip saddr { ${[...new Set(sources)].join(', ')} } ip daddr ${leader} ${proto} dport { ${ps.join(', ')} } meta mark set ${USES_MARK}`,
    );
  }
  const chain = (hook: string) =>
    `  chain ${hook} {\n    type filter hook ${hook} priority -5; policy accept;\n${rules.map((r) => `${r}\n`).join('')}  }\n`;
  return `table ip ${table} {\n${chain('forward')}${chain('input')}${chain('output')}}\n`;
}

/** The ports of a use that the fence can admit (tcp and udp; anything else is carried over tcp here). */
function admitted(use: UsePlan): UsePlan['ports'] {
  return use.ports.map((p) => ({ ...p, protocol: p.protocol === 'udp' ? 'udp' : 'tcp' }));
}

/**
 * The grant of `user` (planned on `cluster`) towards one used service whose plan is `used`; undefined when
 * there is nothing to fence (both on host networking: they reach each other as any host process does) or
 * nothing to reach.
 */
export function planGrant(
  cluster: ClusterMeta,
  user: ServicePlan,
  use: UsePlan,
  used: ServicePlan,
): UsesGrant | undefined {
  const leader = used.ranks[0];
  const ports = admitted(use);
  if (!leader || ports.length === 0) return undefined;
  const leaderNode = nodeOf(cluster, leader.node);
  if (!leaderNode) return undefined;
  const userHost = user.network.mode === 'host';
  const usedHost = used.network.mode === 'host';
  if (userHost && usedHost) return undefined;
  const leaderAddr = usedHost ? leaderNode.address : leader.address;
  const sourceOf = (r: RankPlan): { address: string; node: ClusterNodeMeta } | undefined => {
    const n = nodeOf(cluster, r.node);
    return n ? { address: userHost ? n.address : r.address, node: n } : undefined;
  };
  const sources = user.ranks.flatMap((r) => {
    const s = sourceOf(r);
    return s ? [s] : [];
  });
  const metric = usesMetric(cluster.name, user.name, use.service);
  const routes = new Map<string, UsesRoute>();
  const add = (r: UsesRoute) => routes.set(`${r.netns} ${r.dst}`, r);
  for (const s of sources) {
    if (s.node.name === leaderNode.name) continue;
    // The leader's segment is not known on the user's node; the user's segment not on the leader's.
    if (!usedHost) add({ netns: s.node.netns, dst: leaderAddr, via: leaderNode.address, metric });
    if (!userHost) add({ netns: leaderNode.netns, dst: s.address, via: s.node.address, metric });
  }
  const nodes = [...new Set([...sources.map((s) => s.node.netns), leaderNode.netns])];
  const table = usesTableName(cluster.name, user.name, use.service);
  return {
    service: use.service,
    table,
    nodes,
    nft: renderUsesTable(
      table,
      sources.map((s) => s.address),
      leaderAddr,
      ports,
    ),
    routes: [...routes.values()],
    leader: { hostname: leader.hostname, address: leaderAddr },
  };
}

/**
 * Grants the service every use its plan names, towards the used services running on the same cluster
 * (started before it: see app/up.ts). A used service that is not running on this cluster is skipped (its
 * environment still names it; nothing of it is reachable).
 */
export async function grantUses(ctx: UsesContext): Promise<void> {
  const { cluster, plan, ports } = ctx;
  const run = ports.spawner;
  for (const use of plan.uses ?? []) {
    const used = await readServiceState(use.service, ports);
    if (!used || used.cluster !== cluster.name || used.status === 'stopping') continue;
    const grant = planGrant(cluster, plan, use, used.plan);
    if (!grant) continue;
    const resources: Resource[] = [
      ...grant.nodes.map((netns): Resource => ({ kind: 'nft', netns, table: grant.table })),
      ...grant.routes.map((r): Resource => ({ kind: 'route', ...r })),
    ];
    // Recorded in both records before anything exists: either service's `down` removes the grant.
    await ctx.record(resources);
    await updateServiceState(
      use.service,
      (s) => {
        s.resources.push(...resources);
      },
      ports,
    );
    await Promise.all(
      grant.nodes.map((netns) => run.run([...netnsExecArgv(netns), 'nft', '-f', '-'], { input: grant.nft })),
    );
    for (const r of grant.routes)
      await run.run([
        'ip',
        '-n',
        r.netns,
        'route',
        'replace',
        `${r.dst}/32`,
        'via',
        r.via,
        'metric',
        String(r.metric),
      ]);
    // Overlay ranks resolve the used leader's host name too (MULTINODE_USES_<SVC>_HOST).
    if (plan.network.mode !== 'host')
      for (const r of plan.ranks)
        await appendFile(
          join(ctx.serviceDir, 'etc', `rank-${r.rank}`, 'hosts'),
          `${grant.leader.address}\t${grant.leader.hostname}\n`,
        );
  }
}

/** Removes a grant's route; one already gone is success. */
export async function undoUsesRoute(r: UsesRoute, ports: RuntimePorts): Promise<void> {
  await ports.spawner.run(
    ['ip', '-n', r.netns, 'route', 'del', `${r.dst}/32`, 'via', r.via, 'metric', String(r.metric)],
    { check: false },
  );
}
