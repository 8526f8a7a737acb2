/**
 * Emulated clusters: each node is a network namespace plus a persistent UTS namespace (its own host name),
 * with an underlay veth `under0` on a bridge that lives in a separate "switch" namespace, optional fabric NICs
 * `fabric0…` (veth ends on per-rail fabric bridges in the same switch namespace), and its own hosts/resolver
 * files. The root namespace gets exactly one veth into the switch (for endpoints), guarded by an nft table of
 * ours so the host reaches nothing in the cluster except through endpoint DNAT, and nothing in the cluster
 * reaches the host except replies. IPv6 is off in the switch and every node (loopback keeps ::1): nothing here
 * uses it, and an interface without IPv6 answers no link-local traffic that IPv4 rules would not see.
 *
 * Addresses: cluster index k (0–31) owns underlay 198.18.k.0/24 (node i = .i, the host side = .254) and fabric
 * subnets 198.19.(8k+K).0/24 for rail K. Creation is batched (`ip -batch`, one call per namespace), so
 * 64 nodes come up in about a second. Metadata lives in `<state>/clusters/<name>/cluster.json`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { runLimited } from './concurrency.js';
import { join } from 'node:path';
import type { Inventory, InventoryNode, LinkProfile, PlacedService } from '../../api/inventory.js';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { STATE } from '../../api/names.js';
import type { RuntimePorts } from '../ports.js';
import { defaultPorts } from '../ports.js';
import {
  ETC_FILES,
  NETNS_DIR,
  etcDirFor,
  etcFstab,
  netnsExecArgv,
  nodeNetnsName,
  nodeUtsPath,
  PERL_EACH_NETNS,
  setnsSyscall,
} from './node-exec.js';
import { checkName } from '../../spec/names.js';
import { requireInside } from '../state-root.js';
import { clusterDir, clusterNames, clustersLockPath, stateRoot, withClusterLock, withLock } from './paths.js';
import { listServiceStates } from './service-state.js';

export interface CreateClusterOptions {
  readonly name: string;
  readonly nodes: number;
  readonly gpusPerNode?: number;
  readonly gpuModel?: string;
  readonly cores?: number;
  readonly memoryBytes?: number;
  readonly fabricNics?: number;
  readonly blocks?: number;
  /** Link profile applied once the cluster is up (conditions of source `profile`; netcond/apply.ts). */
  readonly links?: LinkProfile;
}

export interface ClusterNodeMeta {
  readonly name: string;
  readonly index: number;
  readonly address: string;
  readonly netns: string;
  readonly uts: string;
  readonly etcDir: string;
  readonly block?: string;
  readonly fabric: readonly { readonly name: string; readonly address: string }[];
}

export interface ClusterMeta {
  readonly name: string;
  readonly index: number;
  readonly createdAt: string;
  readonly underlaySubnet: string;
  readonly hostAddress: string;
  readonly rootLink: string;
  readonly switchNs: string;
  readonly guardTable: string;
  readonly gpusPerNode: number;
  readonly gpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly fabricNics: number;
  readonly blocks: number;
  readonly nodes: readonly ClusterNodeMeta[];
  /** Milliseconds the creation took. */
  readonly createMs?: number;
  /** The link profile it was created with (its conditions are in net.json). */
  readonly links?: LinkProfile;
}

export const MAX_NODES = 250;
export const MAX_CLUSTERS = 32;
export const MAX_FABRIC_NICS = 8;

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function clusterMetaPath(name: string): string {
  return join(clusterDir(name), 'cluster.json');
}

export async function readClusterMeta(
  name: string,
  ports: RuntimePorts = defaultPorts(),
): Promise<ClusterMeta | undefined> {
  return ports.store.read<ClusterMeta>(clusterMetaPath(name));
}

export async function listClusters(ports: RuntimePorts = defaultPorts()): Promise<ClusterMeta[]> {
  let names: string[];
  try {
    names = await readdir(join(stateRoot(), STATE.clustersDir));
  } catch {
    return [];
  }
  const metas: ClusterMeta[] = [];
  for (const n of names.sort()) {
    if (!checkName('cluster', n).ok) continue; // not ours (a stray entry): never becomes a path
    const m = await readClusterMeta(n, ports);
    if (m) metas.push(m);
  }
  return metas;
}

function badInput(message: string): MultinodeError {
  return new MultinodeError('cluster.bad-input', message, { exitCode: EXIT.badInput });
}

function hostsFile(meta: { nodes: readonly ClusterNodeMeta[] }, extra: readonly string[] = []): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const n of meta.nodes) lines.push(`${n.address}\t${n.name}`);
  return `${[...lines, ...extra].join('\n')}\n`;
}

/**
 * Shell snippet: IPv6 off on every interface of the current network namespace, present and future, except
 * loopback (so `::1`/`localhost` still work for programs that try it first). A NIC moved in later takes the
 * namespace's `default` setting, so it arrives without IPv6 too. Only ever run inside a namespace of ours.
 */
export const IPV6_OFF =
  'c=/proc/sys/net/ipv6/conf; if [ -d $c ]; then echo 1 > $c/default/disable_ipv6 && echo 1 > $c/all/disable_ipv6 && echo 0 > $c/lo/disable_ipv6; fi';

/** argv that runs IPV6_OFF in each of the given network namespaces (names under /run/netns). */
export function ipv6OffArgv(netns: readonly string[]): string[] {
  return [
    '/bin/sh',
    '-c',
    `set -e; s="$1"; shift; for n in "$@"; do /usr/bin/nsenter --net=${NETNS_DIR}/"$n" /bin/sh -c "$s"; done`,
    'multinode-ipv6-off',
    IPV6_OFF,
    ...netns,
  ];
}

/** Shell snippet: turn off br_netfilter's iptables/arptables calls in the current network namespace. */
export const BRNF_OFF =
  'for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -w "$f" ] && echo 0 > "$f"; done; true';

const RESOLV = '# multinode emulated node: names resolve through /etc/hosts only\noptions ndots:0\n';

/** Writes the hosts/resolv.conf/hostname files for a network namespace. */
export async function writeEtcFiles(
  netnsName: string,
  hostname: string,
  hosts: string,
  etcDir?: string,
): Promise<void> {
  const dir = etcDir ?? etcDirFor(netnsName);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'hosts'), hosts);
  await writeFile(join(dir, 'resolv.conf'), RESOLV);
  await writeFile(join(dir, 'hostname'), `${hostname}\n`);
  // The fstab node-exec mounts them with (written last: its presence means the files are there).
  const fstab = etcFstab(
    dir,
    ETC_FILES.filter((f) => existsSync(join('/etc', f))),
  );
  if (fstab !== undefined) {
    await writeFile(join(dir, 'fstab.tmp'), fstab);
    await rename(join(dir, 'fstab.tmp'), join(dir, 'fstab'));
  }
}

export function nodeHostsFile(
  meta: { nodes: readonly ClusterNodeMeta[] },
  extra: readonly string[] = [],
): string {
  return hostsFile(meta, extra);
}

/** Creates an emulated cluster; on any failure everything created so far is removed again. */
export async function createCluster(
  options: CreateClusterOptions,
  ports: RuntimePorts = defaultPorts(),
): Promise<ClusterMeta> {
  const started = ports.clock.now();
  const { name } = options;
  const named = checkName('cluster', name);
  if (!named.ok) throw badInput(named.message);
  if (!NAME_RE.test(name))
    throw badInput(`cluster name "${name}" must be lower-case letters, digits and '-' (≤ 32)`);
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > MAX_NODES)
    throw badInput(`--nodes must be 1…${MAX_NODES}, got ${options.nodes}`);
  const fabricNics = options.fabricNics ?? 0;
  if (fabricNics < 0 || fabricNics > MAX_FABRIC_NICS)
    throw badInput(`--fabric-nics must be 0…${MAX_FABRIC_NICS}`);
  const blocks = Math.max(1, Math.min(options.blocks ?? 1, options.nodes));
  const names = clusterNames(name);

  const meta = await withLock(clustersLockPath(), async () => {
    const existing = await listClusters(ports);
    if (existing.some((c) => c.name === name)) throw badInput(`cluster "${name}" already exists`);
    const used = new Set(existing.map((c) => c.index));
    // Clusters of other state directories: their host-side addresses 198.18.k.254 are in the root namespace.
    const addrs = await ports.spawner.run(['ip', '-4', '-o', 'addr', 'show'], { check: false });
    for (const m of addrs.stdout.matchAll(/inet 198\.18\.(\d+)\.254\//g)) used.add(Number(m[1]));
    let index = 0;
    while (used.has(index)) index++;
    if (index >= MAX_CLUSTERS) throw badInput(`at most ${MAX_CLUSTERS} clusters at a time`);
    const nodes: ClusterNodeMeta[] = [];
    const perBlock = Math.ceil(options.nodes / blocks);
    for (let i = 1; i <= options.nodes; i++) {
      const nodeName = `node-${i}`;
      const netns = nodeNetnsName(name, nodeName);
      nodes.push({
        name: nodeName,
        index: i,
        address: `198.18.${index}.${i}`,
        netns,
        uts: nodeUtsPath(name, nodeName),
        etcDir: etcDirFor(netns),
        ...(blocks > 1 ? { block: `b${Math.floor((i - 1) / perBlock)}` } : {}),
        fabric: Array.from({ length: fabricNics }, (_, k) => ({
          name: `fabric${k}`,
          address: `198.19.${index * MAX_FABRIC_NICS + k}.${i}/24`,
        })),
      });
    }
    const m: ClusterMeta = {
      name,
      index,
      createdAt: new Date(ports.clock.now()).toISOString(),
      underlaySubnet: `198.18.${index}.0/24`,
      hostAddress: `198.18.${index}.254`,
      rootLink: names.rootLink,
      switchNs: names.switchNs,
      guardTable: names.guardTable,
      gpusPerNode: options.gpusPerNode ?? 0,
      gpuModel: options.gpuModel ?? 'NVIDIA H100 80GB HBM3',
      cores: options.cores ?? 2,
      memoryBytes: options.memoryBytes ?? 16 * 1024 ** 3,
      fabricNics,
      blocks,
      nodes,
      ...(options.links !== undefined ? { links: options.links } : {}),
    };
    // Claim the name and index first, so a concurrent create picks another index.
    await ports.store.write(clusterMetaPath(name), m);
    return m;
  });

  try {
    await buildCluster(meta, ports);
    // The link profile (rates/loss between the switch and the nodes): conditions in the switch namespace,
    // which `deleteCluster` removes with the namespace.
    if (options.links !== undefined && Object.keys(options.links).length > 0)
      await (await import('./netcond/apply.js')).applyProfile(meta, options.links, ports);
  } catch (e) {
    await deleteCluster(name, { force: true }, ports).catch(() => undefined);
    throw e;
  }
  const done: ClusterMeta = { ...meta, createMs: ports.clock.now() - started };
  await ports.store.write(clusterMetaPath(name), done);
  return done;
}

async function buildCluster(meta: ClusterMeta, ports: RuntimePorts): Promise<void> {
  const run = ports.spawner;
  const dir = clusterDir(meta.name);
  const utsDir = join(dir, 'uts');
  await mkdir(utsDir, { recursive: true });
  // A private bind mount of its own, so the nsfs bind mounts below don't propagate (what `ip netns` does).
  await run.run(['/bin/mount', '--bind', utsDir, utsDir]);
  await run.run(['/bin/mount', '--make-private', utsDir]);

  await run.run(['ip', '-batch', '-'], {
    input: [meta.switchNs, ...meta.nodes.map((n) => n.netns)].map((n) => `netns add ${n}\n`).join(''),
  });
  // Before any link exists, so every interface made or moved in later starts without IPv6.
  await run.run(ipv6OffArgv([meta.switchNs, ...meta.nodes.map((n) => n.netns)]));
  const sw: string[] = ['link set lo up', `link add ubr0 type bridge`, 'link set ubr0 up'];
  for (let k = 0; k < meta.fabricNics; k++) sw.push(`link add fbr${k} type bridge`, `link set fbr${k} up`);
  for (const n of meta.nodes) {
    sw.push(
      `link add u${n.index} type veth peer name under0 netns ${n.netns}`,
      `link set u${n.index} master ubr0 up`,
    );
    for (let k = 0; k < meta.fabricNics; k++)
      sw.push(
        `link add f${n.index}k${k} type veth peer name fabric${k} netns ${n.netns}`,
        `link set f${n.index}k${k} master fbr${k} up`,
      );
  }
  await run.run(['ip', '-n', meta.switchNs, '-batch', '-'], { input: sw.map((l) => `${l}\n`).join('') });

  await runLimited(meta.nodes, 8, async (n) => {
    const lines = ['link set lo up', `addr add ${n.address}/24 dev under0`, 'link set under0 up'];
    for (const f of n.fabric) lines.push(`addr add ${f.address} dev ${f.name}`, `link set ${f.name} up`);
    await run.run(['ip', '-n', n.netns, '-batch', '-'], { input: lines.map((l) => `${l}\n`).join('') });
  });

  // Persistent UTS namespaces, one host name each: one shell for all nodes (a fork per node is the cost).
  // Keep bridged frames out of iptables/nft in the switch (br_netfilter is per netns and on by default once
  // loaded): it is plain L2. Service setup does the same in the nodes it uses.
  const brnf = run.run([...netnsExecArgv(meta.switchNs), '/bin/sh', '-c', BRNF_OFF]);
  await run.run([
    '/bin/sh',
    '-c',
    'set -e; d="$1"; shift; for n in "$@"; do : > "$d/$n"; /usr/bin/unshare --uts="$d/$n" /bin/hostname "$n"; done',
    'multinode-uts',
    utsDir,
    ...meta.nodes.map((n) => n.name),
  ]);

  await brnf;
  const hosts = hostsFile(meta);
  await Promise.all(meta.nodes.map((n) => writeEtcFiles(n.netns, n.name, hosts)));

  // The one root-namespace link, for endpoints: host side 198.18.k.254, route_localnet only on it.
  await run.run([
    'ip',
    'link',
    'add',
    meta.rootLink,
    'type',
    'veth',
    'peer',
    'name',
    'uhost',
    'netns',
    meta.switchNs,
  ]);
  await run.run(['ip', '-n', meta.switchNs, 'link', 'set', 'uhost', 'master', 'ubr0', 'up']);
  await run.run(['ip', 'addr', 'add', `${meta.hostAddress}/24`, 'dev', meta.rootLink]);
  await run.run(['ip', 'link', 'set', meta.rootLink, 'up']);
  await run.run(['sysctl', '-q', '-w', `net.ipv4.conf.${meta.rootLink}.route_localnet=1`]);
  // The guard: from the host, only endpoint (DNAT-ed) traffic may enter the cluster; from the cluster, only
  // replies to it reach the host (route_localnet would otherwise let a node address the host's 127.0.0.1).
  await run.run(['nft', '-f', '-'], { input: renderGuardTable(meta.guardTable, meta.rootLink) });
}

/** The root-namespace guard of a cluster's one root link. */
export function renderGuardTable(table: string, rootLink: string): string {
  return `table ip ${table} {
  chain output {
    type filter hook output priority 0; policy accept;
    oifname "${rootLink}" ct status dnat accept
    oifname "${rootLink}" drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "${rootLink}" ct state established,related accept
    iifname "${rootLink}" drop
  }
}
`;
}

async function readMountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p !== '');
}

async function netnsWithPrefix(prefix: string): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/**
 * Deletes a cluster: every namespace and link carrying its prefix, its root link and guard table, its UTS
 * mounts and state. Idempotent: what is already gone is skipped. Refuses while services run on it unless
 * `force`.
 */
export async function deleteCluster(
  name: string,
  options: { force?: boolean } = {},
  ports: RuntimePorts = defaultPorts(),
): Promise<{ existed: boolean }> {
  const named = checkName('cluster', name);
  if (!named.ok) throw badInput(named.message);
  // Under the cluster's lock: no `up` plans onto it, no `down` tears down on it meanwhile.
  return withClusterLock(name, () => deleteClusterLocked(name, options, ports));
}

async function deleteClusterLocked(
  name: string,
  options: { force?: boolean },
  ports: RuntimePorts,
): Promise<{ existed: boolean }> {
  const run = ports.spawner;
  const names = clusterNames(name);
  const meta = await readClusterMeta(name, ports);
  if (!options.force) {
    const services = (await listServiceStates(ports)).filter((s) => s.cluster === name);
    if (services.length > 0)
      throw new MultinodeError(
        'cluster.busy',
        `cluster "${name}" still runs ${services.map((s) => s.name).join(', ')}; run \`multinode down\` first`,
      );
  }
  const prefix = `mn-${names.hash}-`;
  const nsList = await netnsWithPrefix(prefix);
  const existed = meta !== undefined || nsList.length > 0;
  await run.run(['nft', 'delete', 'table', 'ip', names.guardTable], { check: false });
  await run.run(['ip', 'link', 'del', names.rootLink], { check: false });
  if (nsList.length > 0)
    await run.run(['ip', '-force', '-batch', '-'], {
      input: nsList.map((n) => `netns del ${n}\n`).join(''),
      check: false,
    });
  const dir = clusterDir(name);
  const mounts = (await readMountPoints()).filter(
    (p) => p === join(dir, 'uts') || p.startsWith(`${join(dir, 'uts')}/`),
  );
  for (const m of mounts.sort().reverse()) await run.run(['/bin/umount', '-l', m], { check: false });
  for (const ns of nsList) await rm(requireInside(etcDirFor(ns)), { recursive: true, force: true });
  if (meta) for (const n of meta.nodes) await rm(requireInside(n.etcDir), { recursive: true, force: true });
  await rm(requireInside(dir), { recursive: true, force: true });
  return { existed };
}

/** The listening TCP/UDP ports in a network namespace (via `ss`). */
export async function readListeningPorts(
  netnsName: string,
  ports: RuntimePorts = defaultPorts(),
): Promise<number[]> {
  const r = await ports.spawner.run([...netnsExecArgv(netnsName), 'ss', '-Htuln'], { check: false });
  return parseSsPorts(r.stdout);
}

/**
 * Perl (perl-base is essential, as for file-lock.ts): for each namespace name, enter it (setns on its file
 * under /run/netns), print `@@ NAME`, then the local port of each listening TCP socket and each unconnected
 * UDP socket, IPv4 and IPv6 — what `ss -Htuln` lists, asked the same way `ss` asks (a sock_diag dump), but
 * for TCP only in state LISTEN, which keeps the kernel from walking the established-connections table (as
 * large as the machine's memory makes it, and walked once per namespace: that, not the processes, made
 * `ss` cost ~10 ms per node). A namespace it cannot enter prints its header alone (no ports), as `ss -N`
 * failing does; any netlink error exits 3 (the caller then asks `ss`).
 */
export const PORTS_SCRIPT = `${PERL_EACH_NETNS}
my $seq = 0;
for my $ns (@ARGV) {
  print "@@ $ns\\n";
  next unless enter($ns);
  socket(my $s, 16, 3, 4) or exit 3;
  for my $q ([2, 6, 1 << 10], [10, 6, 1 << 10], [2, 17, 1 << 7], [10, 17, 1 << 7]) {
    my ($family, $proto, $states) = @$q;
    my $req = pack('CCCCL', $family, $proto, 0, 0, $states) . ("\\0" x 48);
    send($s, pack('LSSLL', 16 + length($req), 20, 0x301, ++$seq, 0) . $req, 0) or exit 3;
    my $done = 0;
    while (!$done) {
      defined(recv($s, my $buf, 65536, 0)) or exit 3;
      exit 3 if $buf eq '';
      while (length($buf) >= 16) {
        my ($len, $type) = unpack('LS', $buf);
        exit 3 if $len < 16 || $type == 2;
        if ($type == 3) { $done = 1; last; }
        print unpack('n', substr($buf, 20, 2)), "\\n" if $type == 20;
        $buf = substr($buf, ($len + 3) & ~3);
      }
    }
  }
  close $s;
}
`;

/** Splits `@@ NAME` sections into lines per name. */
function sections(text: string): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of text.split('\n')) {
    const m = /^@@ (\S+)$/.exec(line);
    if (m?.[1]) byName.set(m[1], (cur = []));
    else if (line !== '') cur?.push(line);
  }
  return byName;
}

/**
 * The listening ports of many nodes: ONE process that enters each node's namespace in turn and asks the
 * kernel there (PORTS_SCRIPT: ~0.4 ms per node, where a shell running `ss -N` per node took ~10). Where that
 * cannot run (an architecture without a known setns number, no perl, a netlink error), a couple of shells
 * each run `ss -N NETNS` for their share of the nodes, as before.
 */
export async function readListeningPortsOf(
  nodes: readonly ClusterNodeMeta[],
  ports: RuntimePorts = defaultPorts(),
): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  if (nodes.length === 0) return out;
  const nr = setnsSyscall();
  if (nr !== undefined) {
    const r = await ports.spawner
      .run(['/usr/bin/perl', '-e', PORTS_SCRIPT, String(nr), ...nodes.map((n) => n.netns)], {
        check: false,
        timeoutMs: 30_000,
      })
      .catch(() => undefined);
    if (r?.code === 0) {
      const byNetns = sections(r.stdout);
      for (const n of nodes) {
        const found = new Set((byNetns.get(n.netns) ?? []).map(Number).filter((p) => Number.isInteger(p)));
        out.set(
          n.name,
          [...found].sort((a, b) => a - b),
        );
      }
      return out;
    }
  }
  const size = Math.ceil(nodes.length / 2);
  const parts: ClusterNodeMeta[][] = [];
  for (let i = 0; i < nodes.length; i += size) parts.push(nodes.slice(i, i + size));
  await Promise.all(
    parts.map(async (part) => {
      const r = await ports.spawner.run(
        [
          '/bin/sh',
          '-c',
          'for n in "$@"; do echo "@@ $n"; ss -N "$n" -Htuln || true; done',
          'multinode-ss',
          ...part.map((n) => n.netns),
        ],
        { check: false },
      );
      const byNetns = sections(r.stdout);
      for (const n of part) out.set(n.name, parseSsPorts((byNetns.get(n.netns) ?? []).join('\n')));
    }),
  );
  return out;
}

export function parseSsPorts(text: string): number[] {
  const found = new Set<number>();
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const local = cols[4];
    if (!local) continue;
    const m = /:(\d+)$/.exec(local);
    if (m?.[1]) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

/**
 * The inventory the planner sees, read from the live cluster: capacity, what services hold, real listeners. of a cluster. `exclude` leaves one service's holdings out (re-planning it on failover);
 * its own host ports are not reported as listening either, so ranks still running keep theirs.
 */
export async function readInventory(
  name: string,
  ports: RuntimePorts = defaultPorts(),
  options: { readonly exclude?: string } = {},
): Promise<Inventory> {
  const meta = await readClusterMeta(name, ports);
  if (!meta)
    throw new MultinodeError('cluster.not-found', `no cluster named "${name}"`, { exitCode: EXIT.badInput });
  const all = (await listServiceStates(ports)).filter((s) => s.cluster === name);
  const services = all.filter((s) => s.name !== options.exclude);
  const excluded = all.find((s) => s.name === options.exclude);
  const listening = await readListeningPortsOf(meta.nodes, ports);
  const placed: PlacedService[] = services.map((s) => ({
    name: s.name,
    ...(s.plan.network.mode === 'overlay' ? { subnet: s.plan.network.subnet } : {}),
    ...(s.plan.network.vni !== undefined ? { vni: s.plan.network.vni } : {}),
  }));
  const nodes: InventoryNode[] = meta.nodes.map((n) => {
    const cpus: number[] = [];
    let mem = 0;
    const gpus: number[] = [];
    const fabric: string[] = [];
    const hostPorts: number[] = [];
    const svc: string[] = [];
    for (const s of services)
      for (const r of s.plan.ranks) {
        if (r.node !== n.name) continue;
        cpus.push(...r.cpus);
        mem += r.memoryBytes;
        gpus.push(...r.gpus);
        fabric.push(...r.fabricNics.map((f) => f.device));
        if (s.plan.network.mode === 'host') hostPorts.push(...r.ports.map((p) => p.hostPort), r.sshPort);
        if (!svc.includes(s.name)) svc.push(s.name);
      }
    const owned = new Set(hostPorts);
    if (excluded?.plan.network.mode === 'host')
      for (const r of excluded.plan.ranks)
        if (r.node === n.name)
          for (const p of [
            ...r.ports.map((x) => x.hostPort),
            r.sshPort,
            r.tfPort ?? 0,
            excluded.plan.masterPort ?? 0,
          ])
            owned.add(p);
    return {
      name: n.name,
      address: n.address,
      numa: [{ id: 0, cpus: Array.from({ length: meta.cores }, (_, i) => i) }],
      memoryBytes: meta.memoryBytes,
      gpus: Array.from({ length: meta.gpusPerNode }, (_, i) => ({ index: i, model: meta.gpuModel, numa: 0 })),
      fabricNics: n.fabric.map((f) => ({ name: f.name, address: f.address, numa: 0 })),
      labels: { ...(n.block !== undefined ? { block: n.block } : {}), node: n.name },
      taken: { cpus, memoryBytes: mem, gpus, fabricNics: fabric, ports: hostPorts, services: svc },
      listening: (listening.get(n.name) ?? []).filter((p) => !owned.has(p)),
    };
  });
  return { name, nodes, services: placed };
}
