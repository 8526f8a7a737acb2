/**
 * What the dashboard shows, read from the same records `ps` and `cluster ls` read: clusters with their
 * nodes, what the services hold on each node, and every service's status, ranks, endpoints and restarts.
 */
import { hostname } from 'node:os';
import { listEmulatedClusters } from '../cluster.js';
import type { ClusterListing } from '../cluster.js';
import { LIVE_STATUSES, listServiceStatus } from '../status.js';
import type { ServiceStatusRow } from '../status.js';
import type { DashCluster, DashEndpoint, DashNode, DashService, DashSnapshot } from './wire.js';

/** Fields of the cluster and node records this dashboard draws itself; any other is shown as it is. */
const KNOWN_CLUSTER_KEYS = new Set([
  'name',
  'index',
  'createdAt',
  'underlaySubnet',
  'hostAddress',
  'rootLink',
  'switchNs',
  'guardTable',
  'gpusPerNode',
  'gpuModel',
  'cores',
  'memoryBytes',
  'fabricNics',
  'blocks',
  'nodes',
  'createMs',
  'services',
]);
const KNOWN_NODE_KEYS = new Set(['name', 'index', 'address', 'netns', 'uts', 'etcDir', 'block', 'fabric']);

function extra(record: object, known: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) if (!known.has(k) && v !== undefined) out[k] = v;
  return out;
}

function stripPrefix(address: string): string {
  return address.split('/')[0] ?? address;
}

export function endpointUrl(protocol: string, host: string, port: number): string {
  const scheme = protocol === 'https' ? 'https' : protocol === 'http' ? 'http' : 'tcp';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

function serviceView(row: ServiceStatusRow): DashService {
  const s = row.state;
  const f = s.failover;
  let statusNote: string | undefined;
  if (!row.supervisorAlive && LIVE_STATUSES.includes(s.status))
    statusNote = `supervisor gone (killed or crashed): \`multinode down ${s.name}\` cleans up`;
  else if (s.status === 'ready' && s.group && !s.group.ready) statusNote = 'group not ready';
  const endpoints: DashEndpoint[] = s.endpoints.map((e) => ({
    name: e.name,
    protocol: e.protocol,
    url: endpointUrl(e.protocol, e.hostAddress, e.hostPort),
    hostAddress: e.hostAddress,
    hostPort: e.hostPort,
    targetAddress: e.targetAddress,
    targetPort: e.targetPort,
    published: e.published,
  }));
  return {
    name: s.name,
    cluster: s.cluster,
    file: s.file,
    createdAt: s.createdAt,
    status: s.status,
    ...(statusNote ? { statusNote } : {}),
    supervisorAlive: row.supervisorAlive,
    degraded: s.degraded === true,
    network: s.plan.network,
    ranks: row.ranks.map((r) => {
      const p = s.plan.ranks[r.rank];
      return {
        rank: r.rank,
        role: p?.role ?? (r.rank === 0 ? 'leader' : 'worker'),
        hostname: r.hostname,
        node: r.node,
        address: r.address,
        ...(r.pid !== undefined ? { pid: r.pid } : {}),
        status: r.status,
        alive: r.alive,
        ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
        ...(r.signal !== undefined ? { signal: r.signal } : {}),
        restarts: r.restarts ?? 0,
        ...(r.missingSince !== undefined ? { missingSince: r.missingSince } : {}),
        ...(r.startedAt !== undefined ? { startedAt: r.startedAt } : {}),
        cpus: p?.cpus.length ?? 0,
        memoryBytes: p?.memoryBytes ?? 0,
        gpus: p?.gpus ?? [],
        fabric: (p?.fabricNics ?? []).map((n) => ({
          name: n.device,
          address: stripPrefix(n.address ?? ''),
        })),
        ports: (p?.ports ?? []).map((x) => ({ name: x.name, port: x.port, hostPort: x.hostPort })),
      };
    }),
    endpoints,
    probe: {
      status: s.probe.status,
      ...(s.probe.last !== undefined ? { last: s.probe.last } : {}),
      ...(s.probe.lastAt !== undefined ? { lastAt: s.probe.lastAt } : {}),
    },
    ...(s.group ? { groupReady: s.group.ready } : {}),
    missing: s.group?.missing ?? [],
    restart: {
      policy: s.plan.restart.policy,
      maxRestarts: s.plan.restart.maxRestarts,
      restartsAfterStart: f?.ledger.restartsAfterStart ?? 0,
      restartsBeforeStart: f?.ledger.restartsBeforeStart ?? 0,
      history: (f?.history ?? []).map((h) => ({
        at: h.at,
        trigger: h.trigger,
        action: h.action,
        ranks: h.ranks,
        reason: h.reason,
        timings: h.timings,
        moved: h.moved ?? [],
      })),
    },
    timings: s.timings,
    ...(s.message !== undefined ? { message: s.message } : {}),
  };
}

function clusterView(c: ClusterListing, services: readonly ServiceStatusRow[]): DashCluster {
  const nodes: DashNode[] = c.nodes.map((n) => {
    let cpus = 0;
    let memoryBytes = 0;
    let gpus = 0;
    const ranks: { service: string; rank: number }[] = [];
    for (const row of services) {
      if (row.state.cluster !== c.name) continue;
      for (const r of row.state.plan.ranks) {
        if (r.node !== n.name) continue;
        cpus += r.cpus.length;
        memoryBytes += r.memoryBytes;
        gpus += r.gpus.length;
        ranks.push({ service: row.state.name, rank: r.rank });
      }
    }
    return {
      name: n.name,
      index: n.index,
      address: n.address,
      netns: n.netns,
      ...(n.block !== undefined ? { block: n.block } : {}),
      fabric: n.fabric.map((x) => ({ name: x.name, address: stripPrefix(x.address) })),
      held: { cpus, memoryBytes, gpus, ranks },
      extra: extra(n, KNOWN_NODE_KEYS),
    };
  });
  return {
    name: c.name,
    createdAt: c.createdAt,
    underlaySubnet: c.underlaySubnet,
    hostAddress: c.hostAddress,
    cores: c.cores,
    memoryBytes: c.memoryBytes,
    gpusPerNode: c.gpusPerNode,
    gpuModel: c.gpuModel,
    fabricNics: c.fabricNics,
    blocks: c.blocks,
    nodes,
    services: c.services,
    extra: extra(c, KNOWN_CLUSTER_KEYS),
  };
}

export interface SnapshotOptions {
  readonly allowActions: boolean;
  readonly planFile?: string;
}

/** Everything the page draws, read now. */
export async function readSnapshot(opts: SnapshotOptions): Promise<DashSnapshot> {
  const [clusters, services] = await Promise.all([listEmulatedClusters(), listServiceStatus()]);
  return {
    host: hostname(),
    allowActions: opts.allowActions,
    ...(opts.planFile !== undefined ? { planFile: opts.planFile } : {}),
    clusters: clusters.map((c) => clusterView(c, services)),
    services: services.map(serviceView),
  };
}

/** Node namespaces of every cluster (what the traffic sampler reads), by cluster and node. */
export function nodeNamespaces(snapshot: DashSnapshot): { cluster: string; node: string; netns: string }[] {
  return snapshot.clusters.flatMap((c) =>
    c.nodes.map((n) => ({ cluster: c.name, node: n.name, netns: n.netns })),
  );
}
