/**
 * Endpoints: each is published on the host (127.0.0.1, the declared port when free, else the next free one)
 * and forwarded to rank 0 only, by nftables DNAT in a root-namespace table of the service's own
 * (`mn_<hash>_ep`): `output` DNAT 127.0.0.1:P → node address:via-port, plus SNAT of the 127/8 source to the
 * cluster's host-side address on its one root link (which alone has `route_localnet=1`). In overlay mode the
 * node forwards via-port to rank 0 (its own nft table, see network.ts); in host mode via-port is rank 0's
 * host port. Publishing replaces the table atomically; withdrawing deletes it.
 *
 * Replicas (`renderBalancedEndpointTable`): one table for the whole replica set, under the set's own name,
 * whose DNAT spreads new connections over the ready replicas' rank 0 with `numgen inc mod N` and a map
 * (round robin per connection; conntrack keeps a connection on its replica). With no replica ready the
 * port answers with a TCP reset, so it stays claimed (`readForwardedPorts` sees it) and fails fast.
 * A replica whose rank 0 dies costs no new connection: in its rank-0 namespace a listen guard
 * (`renderListenGuard`, overlay mode) drops the SYNs the map still sends it instead of resetting them; the
 * endpoint controller (replica-set.ts), woken by the member's record write, takes it out of the map within
 * milliseconds and deletes those connections' root-namespace conntrack entries (`forgetPendingConnections`,
 * still SYN_SENT), so the client's retransmitted SYN (~1 s later) is balanced over the replicas left. A request
 * the dying process had already accepted is lost, as behind any kernel balancer.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer } from 'node:tls';
import type { ServicePlan } from '../../api/plan.js';
import type { RuntimePorts } from '../ports.js';
import type { ClusterMeta } from './cluster.js';
import type { EndpointForward } from './network.js';
import { netnsExecArgv } from './node-exec.js';
import { serviceNames } from './paths.js';
import type { EndpointState } from './service-state.js';

export const ENDPOINT_HOST = '127.0.0.1';

/** True when nothing listens on 127.0.0.1:port (we can bind it). */
export function isHostPortFree(port: number, host = ENDPOINT_HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The declared port when free (on the host and among other services' endpoints), else the next free one. */
export async function pickHostPort(
  wanted: number,
  taken: ReadonlySet<number>,
  isFree: (p: number) => Promise<boolean> = isHostPortFree,
): Promise<number> {
  for (let p = wanted; p <= 65535; p++) if (!taken.has(p) && (await isFree(p))) return p;
  for (let p = 1024; p < wanted; p++) if (!taken.has(p) && (await isFree(p))) return p;
  throw new Error('no free host port for an endpoint');
}

/** Host ports already forwarded by any multinode endpoint table (also other state directories'). */
export async function readForwardedPorts(ports: RuntimePorts): Promise<Set<number>> {
  const out = new Set<number>();
  const tables = await ports.spawner.run(['nft', 'list', 'tables', 'ip'], { check: false });
  for (const m of tables.stdout.matchAll(/table ip (mn_[0-9a-f]{6}_ep)/g)) {
    const t = await ports.spawner.run(['nft', 'list', 'table', 'ip', m[1] ?? ''], { check: false });
    for (const d of t.stdout.matchAll(/tcp dport (\d+) (?:dnat|reject)/g)) out.add(Number(d[1]));
  }
  return out;
}

/** Works out every endpoint's host port and forwarding path. */
export async function planEndpoints(
  plan: ServicePlan,
  cluster: ClusterMeta,
  takenHostPorts: ReadonlySet<number>,
  isFree?: (p: number) => Promise<boolean>,
): Promise<{ endpoints: EndpointState[]; forwards: EndpointForward[] }> {
  const rank0 = plan.ranks[0];
  if (!rank0 || plan.endpoints.length === 0) return { endpoints: [], forwards: [] };
  const node = cluster.nodes.find((n) => n.name === rank0.node);
  if (!node) throw new Error(`rank 0's node ${rank0.node} is not in cluster ${cluster.name}`);
  const taken = new Set(takenHostPorts);
  const endpoints: EndpointState[] = [];
  const forwards: EndpointForward[] = [];
  for (const e of plan.endpoints) {
    const hostPort = await pickHostPort(e.port, taken, isFree);
    taken.add(hostPort);
    // https: a small TLS proxy owns the public port and forwards to a second, DNAT-ed loopback port.
    const tls = e.protocol === 'https';
    const dnatPort = tls
      ? await pickHostPort(hostPort + 10000 > 65535 ? 20000 : hostPort + 10000, taken, isFree)
      : hostPort;
    taken.add(dnatPort);
    const host = plan.network.mode === 'host';
    const viaPort = host ? e.targetPort : dnatPort;
    endpoints.push({
      name: e.name,
      protocol: e.protocol,
      hostAddress: ENDPOINT_HOST,
      hostPort,
      viaAddress: node.address,
      viaPort,
      targetAddress: e.targetAddress,
      targetPort: e.targetPort,
      dnatPort,
      ...(tls ? { tls: true } : {}),
      published: false,
    });
    if (!host)
      forwards.push({
        node: node.name,
        nodeAddress: node.address,
        viaPort,
        target: e.targetAddress,
        port: e.targetPort,
      });
  }
  return { endpoints, forwards };
}

export function renderEndpointTable(
  table: string,
  cluster: ClusterMeta,
  endpoints: readonly EndpointState[],
): string {
  const dnat = endpoints.map(
    (e) =>
      `    ip daddr ${e.hostAddress} tcp dport ${e.dnatPort ?? e.hostPort} dnat to ${e.viaAddress}:${e.viaPort}`,
  );
  return `table ip ${table} {
  chain output {
    type nat hook output priority -100; policy accept;
${dnat.join('\n')}
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "${cluster.rootLink}" ip saddr 127.0.0.0/8 snat to ${cluster.hostAddress}
  }
}
`;
}

// ---- replicas: one endpoint over the ready replicas ----

/** Where one replica's rank 0 is reached for one endpoint (its node address and via-port). */
export interface Backend {
  readonly address: string;
  readonly port: number;
}

/** A replica set's endpoint on the host and the ready backends behind it (in rotation order). */
export interface BalancedEndpoint {
  readonly name: string;
  readonly hostAddress: string;
  /** The port the DNAT rule matches (the TLS proxy's upstream for https). */
  readonly dnatPort: number;
  readonly backends: readonly Backend[];
}

/** The DNAT rule of one balanced endpoint: one backend, a numgen map over several, or a reset for none. */
export function balancedRule(e: BalancedEndpoint): string {
  const match = `ip daddr ${e.hostAddress} tcp dport ${e.dnatPort}`;
  const [first] = e.backends;
  if (!first) return `${match} reject with tcp reset`;
  if (e.backends.length === 1) return `${match} dnat to ${first.address}:${first.port}`;
  const map = e.backends.map((b, i) => `${i} : ${b.address} . ${b.port}`).join(', ');
  return `${match} dnat to numgen inc mod ${e.backends.length} map { ${map} }`;
}

export function renderBalancedEndpointTable(
  table: string,
  cluster: Pick<ClusterMeta, 'rootLink' | 'hostAddress'>,
  endpoints: readonly BalancedEndpoint[],
): string {
  return `table ip ${table} {
  chain output {
    type nat hook output priority -100; policy accept;
${endpoints.map((e) => `    ${balancedRule(e)}`).join('\n')}
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "${cluster.rootLink}" ip saddr 127.0.0.0/8 snat to ${cluster.hostAddress}
  }
}
`;
}

// ---- replicas: a killed replica loses no new connection ----

/**
 * The listen guard of a replica (a table in its rank 0's own network namespace): a SYN of endpoint traffic
 * (from the host's cluster address, as the node's DNAT delivers it) to an endpoint port on which no socket
 * listens is dropped instead of answered with a reset. nft's `socket` expression finds a socket or breaks the
 * rule, so the two `accept`s pass everything some socket takes and only the listener-less SYN reaches the
 * `drop`. The client then retransmits its SYN (after ~1 s), by when the endpoint controller has taken the
 * replica out and forgotten the connection (`forgetPendingConnections`), so the retry is balanced anew.
 * Anything else (the readiness probe from inside the namespace, other sources, other ports) keeps its reset.
 */
export function renderListenGuard(table: string, from: string, ports: readonly number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const match = `ip saddr ${from} tcp dport ${sorted.length === 1 ? String(sorted[0]) : `{ ${sorted.join(', ')} }`}`;
  return `table ip ${table} {
  chain input {
    type filter hook input priority 0; policy accept;
    ${match} socket transparent 0 accept
    ${match} socket transparent 1 accept
    ${match} tcp flags & (syn | ack) == syn drop
  }
}
`;
}

/** Name of the listen-guard table in a replica's rank-0 namespace. */
export function listenGuardTable(cluster: string, member: string): string {
  return `mn_${serviceNames(cluster, member).hash}_listen`;
}

/**
 * Puts (or replaces) a replica's listen guard in its rank-0 namespace, which the replica owns: the table goes
 * with the namespace when the replica is torn down. False when nft refused (the replica then works as before).
 */
export async function installListenGuard(
  netns: string,
  table: string,
  from: string,
  targetPorts: readonly number[],
  ports: RuntimePorts,
): Promise<boolean> {
  if (targetPorts.length === 0) return true;
  const r = await ports.spawner.run([...netnsExecArgv(netns), 'nft', '-f', '-'], {
    input: `table ip ${table}\ndelete table ip ${table}\n${renderListenGuard(table, from, targetPorts)}`,
    check: false,
  });
  return r.code === 0;
}

/**
 * argv deleting the host's connections to one backend of a balanced endpoint that are not yet established
 * (SYN sent, no answer): their retransmitted SYN then gets a fresh DNAT decision over the current map.
 */
export function forgetPendingArgv(
  e: Pick<BalancedEndpoint, 'hostAddress' | 'dnatPort'>,
  b: Backend,
): string[] {
  return [
    'conntrack',
    '-D',
    '-p',
    'tcp',
    '--state',
    'SYN_SENT',
    '--orig-dst',
    e.hostAddress,
    '--orig-port-dst',
    String(e.dnatPort),
    '--reply-src',
    b.address,
    '--reply-port-src',
    String(b.port),
  ];
}

/** Runs `forgetPendingArgv` (none found is fine; a missing `conntrack` tool leaves the retry on the old path). */
export async function forgetPendingConnections(
  e: Pick<BalancedEndpoint, 'hostAddress' | 'dnatPort'>,
  b: Backend,
  ports: RuntimePorts,
): Promise<void> {
  await ports.spawner.run(forgetPendingArgv(e, b), { check: false }).catch(() => undefined);
}

/** Replaces a replica set's endpoint table in one nft transaction (new connections follow at once). */
export async function publishBalancedEndpoints(
  cluster: ClusterMeta,
  set: string,
  endpoints: readonly BalancedEndpoint[],
  ports: RuntimePorts,
): Promise<void> {
  if (endpoints.length === 0) return;
  const table = serviceNames(cluster.name, set).endpointTable;
  await ports.spawner.run(['nft', '-f', '-'], {
    input: `table ip ${table}\ndelete table ip ${table}\n${renderBalancedEndpointTable(table, cluster, endpoints)}`,
  });
}

/** Publishes (or re-publishes) all endpoints of a service: one atomic nft transaction. */
export async function publishEndpoints(
  clusterMeta: ClusterMeta,
  service: string,
  endpoints: readonly EndpointState[],
  ports: RuntimePorts,
): Promise<void> {
  if (endpoints.length === 0) return;
  const table = serviceNames(clusterMeta.name, service).endpointTable;
  await ports.spawner.run(['nft', '-f', '-'], {
    input: `table ip ${table}\ndelete table ip ${table}\n${renderEndpointTable(table, clusterMeta, endpoints)}`,
  });
}

export async function withdrawEndpoints(
  clusterName: string,
  service: string,
  ports: RuntimePorts,
): Promise<void> {
  const table = serviceNames(clusterName, service).endpointTable;
  await ports.spawner.run(['nft', 'delete', 'table', 'ip', table], { check: false });
}

/** A self-signed certificate for 127.0.0.1/localhost (openssl), kept in `dir`. */
export async function ensureCertificate(
  dir: string,
  ports: RuntimePorts,
): Promise<{ key: string; cert: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  if (!existsSync(cert))
    await ports.spawner.run([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '365',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
  return { key, cert };
}

/** Terminates TLS on 127.0.0.1:hostPort and pipes each connection to the DNAT-ed 127.0.0.1:dnatPort. */
export async function startTlsProxy(
  e: EndpointState,
  files: { key: string; cert: string },
): Promise<TlsServer> {
  const [key, cert] = await Promise.all([readFile(files.key), readFile(files.cert)]);
  const server = createTlsServer({ key, cert }, (client) => {
    const upstream = connect({ host: ENDPOINT_HOST, port: e.dnatPort ?? e.hostPort });
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: e.hostAddress, port: e.hostPort, exclusive: true }, () => resolve());
  });
  return server;
}
