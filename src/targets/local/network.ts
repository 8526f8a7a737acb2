/**
 * Per-service networking on an emulated cluster.
 *
 * Overlay (default): the service's own VXLAN segment (its VNI) across the nodes it uses — on each node a
 * bridge, a VXLAN device on `under0` flooding to the service's own multicast group (`vxlanGroup`: no per-peer
 * fdb entries, so nothing grows with the square of the nodes) — and a
 * network namespace per rank attached with the real CNI `bridge` + `host-local` plugins run inside the node
 * namespace (so nothing lands in the root namespace). Every node's bridge holds the segment's gateway address
 * (`segmentGateway`), and ARP for it stays off the VXLAN, so a rank's replies always leave through its own
 * node. A small nft
 * table per service in each node forwards endpoint traffic (from the host's cluster address only: node
 * address:via-port → rank 0) and fences the segment: ranks reach only their own segment; nothing else reaches
 * them — neither traffic crossing the node nor traffic starting in it (host-network ranks, node daemons) —
 * except endpoint DNAT; the service's VXLAN packets are taken only on `under0` and only from its peer nodes.
 * Rank namespaces have IPv6 off (loopback aside), like the nodes (see cluster.ts).
 * Host mode: ranks run in the node namespace; their host names are added to the node's hosts file.
 * Fabric NICs move into the rank with the CNI `host-device` plugin and are given back and set up on DEL.
 * Either mode: the service's fabric ports on the rail bridges (switch namespace) exchange frames only with
 * each other, by a per-service `bridge` nft table there.
 *
 * Every object is recorded (via `record`) before or right after it is created, in order, so teardown can undo
 * in reverse and treat "already gone" as success.
 */
import { isOwnDir } from '../private-dir.js';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { runLimited } from './concurrency.js';
import { join } from 'node:path';
import type { RankPlan, ServicePlan } from '../../api/plan.js';
import type { RuntimePorts } from '../ports.js';
import type { ClusterMeta, ClusterNodeMeta } from './cluster.js';
import { BRNF_OFF, IPV6_OFF, writeEtcFiles } from './cluster.js';
import { linuxSyscalls, NETNS_DIR, netnsExecArgv, PERL_EACH_NETNS, setnsSyscall } from './node-exec.js';
import { serviceNames, stateRoot } from './paths.js';
import { STATE } from '../../api/names.js';
import type { Resource } from './service-state.js';
import { trace } from './trace.js';
import { grantUses, undoUsesRoute, USES_MARK } from './uses-fence.js';

export const VXLAN_PORT = 4789;

export interface NetworkContext {
  readonly cluster: ClusterMeta;
  readonly plan: ServicePlan;
  readonly serviceDir: string;
  readonly ports: RuntimePorts;
  /** Appends resources to the service's teardown list (persisted by the caller). */
  readonly record: (r: Resource | readonly Resource[]) => Promise<void>;
  /** Stores CNI ADD results (by container id) on the recorded bridge attachments. */
  readonly keepResults?: (results: ReadonlyMap<string, unknown>) => Promise<void>;
}

export interface RankNetwork {
  readonly rank: number;
  readonly netns: string;
}

function nodeOf(cluster: ClusterMeta, name: string): ClusterNodeMeta {
  const n = cluster.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`node ${name} is not in cluster ${cluster.name}`);
  return n;
}

/** Nodes the service uses, in order of their first rank. */
export function serviceNodes(cluster: ClusterMeta, plan: ServicePlan): ClusterNodeMeta[] {
  const seen: ClusterNodeMeta[] = [];
  for (const r of plan.ranks) if (!seen.some((n) => n.name === r.node)) seen.push(nodeOf(cluster, r.node));
  return seen;
}

/**
 * The gateway of a service's segment: the plan's (`.1`), else `.1` of the subnet. Every node's service bridge
 * holds this same address (an anycast gateway): a rank's ARP for it is answered by its own node only (the
 * gateway table keeps ARP for it off the VXLAN), so a rank's replies always leave through its own node, and
 * no address beyond `.1` is taken from the ranks (a /24 holds 253 ranks on any number of nodes).
 */
export function segmentGateway(plan: ServicePlan): string {
  if (plan.network.gateway !== undefined) return plan.network.gateway;
  const [base] = plan.network.subnet.split('/');
  const parts = (base ?? '').split('.');
  return `${parts[0]}.${parts[1]}.${parts[2]}.1`;
}

/** Name of a service's gateway table in a node (a `bridge` table next to the `ip` node table). */
export function gatewayTableName(nodeTable: string): string {
  return `${nodeTable}_gw`;
}

/**
 * The gateway table: ARP for (or from) the segment's gateway address never crosses the VXLAN, in either
 * direction, so each node's bridge answers only its own ranks.
 */
export function renderGatewayTable(table: string, vxlan: string, gateway: string): string {
  return `table bridge ${table} {
  chain forward {
    type filter hook forward priority 0; policy accept;
    oifname "${vxlan}" arp daddr ip ${gateway} drop
    iifname "${vxlan}" arp saddr ip ${gateway} drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "${vxlan}" arp daddr ip ${gateway} drop
  }
  chain output {
    type filter hook output priority 0; policy accept;
    oifname "${vxlan}" arp saddr ip ${gateway} drop
  }
}
`;
}

function prefixLen(subnet: string): string {
  return subnet.split('/')[1] ?? '24';
}

function lines(ls: readonly string[]): string {
  return ls.map((l) => `${l}\n`).join('');
}

/** Nodes set up at once (each is one process running ip and nft in the node's namespace). */
const NODE_SETUP_PARALLEL = 4;
/** Ranks whose etc files are written at once (a few small files each). */
const ETC_WRITE_PARALLEL = 16;
/** Shells entering the ranks' namespaces at once (each takes a share of the ranks). */
const RANK_SETUP_PARALLEL = 2;

/**
 * Perl, for each rank namespace named: enter it, then do what IPV6_OFF (cluster.ts) and `ip link set lo up` do —
 * IPv6 off by default and on every interface but loopback (when the kernel has IPv6), then loopback up
 * (SIOCGIFFLAGS/SIOCSIFFLAGS on `lo`). Stops at the first failure, naming it.
 */
export const RANK_NETNS_SCRIPT = `${PERL_EACH_NETNS}
for my $ns (@ARGV) {
  enter($ns) or die "cannot enter network namespace $ns: $!\\n";
  my $c = '/proc/sys/net/ipv6/conf';
  if (-d $c) {
    for my $w (["$c/default/disable_ipv6", 1], ["$c/all/disable_ipv6", 1], ["$c/lo/disable_ipv6", 0]) {
      open(my $fh, '>', $w->[0]) or die "$ns: $w->[0]: $!\\n";
      print $fh "$w->[1]\\n";
      close($fh) or die "$ns: $w->[0]: $!\\n";
    }
  }
  socket(my $s, 2, 2, 0) or die "$ns: socket: $!\\n";
  my $ifr = pack('a16 s x22', 'lo', 0);
  ioctl($s, 0x8913, $ifr) or die "$ns: lo: $!\\n";
  my $flags = unpack('x16 s', $ifr);
  ioctl($s, 0x8914, pack('a16 s x22', 'lo', $flags | 1)) or die "$ns: lo up: $!\\n";
  close $s;
}
`;

/** `items` in at most `n` contiguous parts of near-equal size (none empty). */
export function chunks<T>(items: readonly T[], n: number): T[][] {
  const size = Math.ceil(items.length / Math.max(1, n));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The multicast group a service's VXLAN floods to (broadcast, unknown unicast, multicast) on the cluster's
 * underlay: 239.x.y.z from the 24-bit VNI (administratively scoped; the underlay bridge in the cluster's own
 * switch namespace is the only place it travels, and its IGMP snooping sends it only to the service's nodes).
 */
export function vxlanGroup(vni: number): string {
  return `239.${(vni >> 16) & 255}.${(vni >> 8) & 255}.${vni & 255}`;
}

/**
 * The link group of a service's devices on its nodes (its bridge and VXLAN), so `down` deletes a node's pair
 * in ONE rtnl operation (`ip link del group`): the kernel unregisters a group as one batch, paying its RCU
 * waits (~30 ms on the test machine, under rtnl, so nodes cannot overlap them) once per node instead of once
 * per device. Derived from the VNI, which no two services of a cluster share (the planner's AddressBook skips
 * the VNIs of recorded services) and a node namespace belongs to one cluster: one group per service on a node.
 * Offset by `LINK_GROUP_BASE` (above the 24-bit VNIs) so it stays clear of 0, the default group of every
 * other device, and of the small numbers a person would pick by hand. Undefined without a VNI.
 */
export const LINK_GROUP_BASE = 0x4d000000;

export function linkGroup(vni: number | undefined): number | undefined {
  return vni !== undefined && Number.isInteger(vni) && vni > 0 && vni <= 0xffffff
    ? LINK_GROUP_BASE + vni
    : undefined;
}

/**
 * A shell script that runs each command with its input as a here-document (quoted: taken literally), stops at
 * the first failure, then runs `tail`. Inputs are generated here (never a user's text), and no input line can
 * be the delimiter, which is checked.
 */
export function shellWithInputs(steps: readonly (readonly [string, string])[], tail = ''): string {
  const parts = ['set -e'];
  steps.forEach(([cmd, input], i) => {
    const eof = `MULTINODE_EOF_${i}`;
    if (input.split('\n').includes(eof)) throw new Error(`input of ${cmd} contains ${eof}`);
    parts.push(`${cmd} <<'${eof}'\n${input.endsWith('\n') ? input : `${input}\n`}${eof}`);
  });
  if (tail !== '') parts.push(tail);
  return parts.join('\n');
}

/** The rank's hosts file: itself (under its own and its node's name), then every other rank. */
export function rankHostsFile(plan: ServicePlan, rank: RankPlan, nodeLines: readonly string[] = []): string {
  const out = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  out.push(`${rank.address}\t${rank.hostname}`);
  for (const r of plan.ranks) if (r.rank !== rank.rank) out.push(`${r.address}\t${r.hostname}`);
  return `${[...out, ...nodeLines].join('\n')}\n`;
}

/** What a node table fences besides the segment: endpoint sources and the service's VXLAN. */
export interface NodeFence {
  /** Endpoint DNAT only for packets from this address (the host's side of the cluster's root link). */
  readonly hostAddress?: string;
  /** The service's VNI and the underlay addresses of its other nodes: its VXLAN is taken only from them. */
  readonly vxlan?: { readonly vni: number; readonly peers: readonly string[] };
}

/** The nft table a service keeps in each of its nodes (overlay): endpoint forwarding and the fence. */
export function renderNodeTable(
  table: string,
  bridge: string,
  dnat: readonly { nodeAddress: string; viaPort: number; target: string; port: number }[],
  fence: NodeFence = {},
): string {
  const from = fence.hostAddress !== undefined ? `ip saddr ${fence.hostAddress} ` : '';
  const rules = dnat.map(
    (d) => `    ${from}ip daddr ${d.nodeAddress} tcp dport ${d.viaPort} dnat to ${d.target}:${d.port}`,
  );
  const vx: string[] = [];
  if (fence.vxlan) {
    // The VNI is the 24 bits after the VXLAN flags and reserved bytes (bit 96 from the UDP header).
    const { vni, peers } = fence.vxlan;
    const notPeer = peers.length > 0 ? `ip saddr != { ${peers.join(', ')} } ` : '';
    vx.push(
      `    udp dport ${VXLAN_PORT} iifname != "under0" drop`,
      `    udp dport ${VXLAN_PORT} @th,96,24 ${vni} ${notPeer}drop`,
    );
  }
  return `table ip ${table} {
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
${rules.join('\n')}
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    ct state established,related accept
    meta mark ${USES_MARK} accept
    iifname "${bridge}" oifname "${bridge}" accept
    oifname "${bridge}" ct status dnat accept
    iifname "${bridge}" drop
    oifname "${bridge}" drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
${vx.map((l) => `${l}\n`).join('')}    iifname "${bridge}" ct state established,related accept
    meta mark ${USES_MARK} accept
    iifname "${bridge}" drop
  }
  chain output {
    type filter hook output priority 0; policy accept;
    oifname "${bridge}" ct state established,related accept
    meta mark ${USES_MARK} accept
    oifname "${bridge}" drop
  }
}
`;
}

/** Name of a service's fabric table (a `bridge` table in the cluster's switch namespace). */
export function fabricTableName(serviceHash: string): string {
  return `mn_${serviceHash}_fab`;
}

/** The nft family of one of our tables, from its name: fabric and gateway tables are `bridge`, all others `ip`. */
export function nftFamily(table: string): 'bridge' | 'ip' {
  return table.endsWith('_fab') || table.endsWith('_gw') ? 'bridge' : 'ip';
}

/** The switch-side ports (`f<node index>k<rail>`) of the fabric NICs the service's ranks hold. */
export function fabricPorts(cluster: ClusterMeta, plan: ServicePlan): string[] {
  const out = new Set<string>();
  for (const r of plan.ranks) {
    const n = nodeOf(cluster, r.node);
    for (const f of r.fabricNics) {
      const k = n.fabric.findIndex((x) => x.name === f.device);
      if (k >= 0) out.add(`f${n.index}k${k}`);
    }
  }
  return [...out].sort();
}

/**
 * The fabric fence on the rail bridges: frames from the service's ports go only to its ports, and its ports
 * take frames only from each other (every ethertype: IPv4, ARP, IPv6 alike). Frames flooded to many ports
 * are checked once per port.
 */
export function renderFabricTable(table: string, ports: readonly string[]): string {
  const set = `{ ${ports.map((p) => `"${p}"`).join(', ')} }`;
  return `table bridge ${table} {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname ${set} oifname != ${set} drop
    oifname ${set} iifname != ${set} drop
  }
}
`;
}

/** Records and creates the service's fabric fence, when its ranks hold fabric NICs. */
async function setupFabricFence(ctx: NetworkContext): Promise<void> {
  const { cluster, plan, ports } = ctx;
  const fabric = fabricPorts(cluster, plan);
  if (fabric.length === 0) return;
  const table = fabricTableName(serviceNames(cluster.name, plan.name).hash);
  await ctx.record({ kind: 'nft', netns: cluster.switchNs, table });
  await ports.spawner.run([...netnsExecArgv(cluster.switchNs), 'nft', '-f', '-'], {
    input: renderFabricTable(table, fabric),
  });
}

export interface EndpointForward {
  readonly node: string;
  readonly nodeAddress: string;
  readonly viaPort: number;
  readonly target: string;
  readonly port: number;
}

/**
 * Creates the service network; returns each rank's network namespace name. The ranks' host names (UTS
 * namespaces and etc files) need nothing of the network, so they are made while it is set up.
 */
export async function setupServiceNetwork(
  ctx: NetworkContext,
  forwards: readonly EndpointForward[],
): Promise<RankNetwork[]> {
  const identity = setupRankIdentity(ctx).then(() => trace('network: rank identity'));
  const [made, named] = await Promise.allSettled([setupRankNetworks(ctx, forwards), identity]);
  if (made.status === 'rejected') throw made.reason;
  if (named.status === 'rejected') throw named.reason;
  return made.value;
}

async function setupRankNetworks(
  ctx: NetworkContext,
  forwards: readonly EndpointForward[],
): Promise<RankNetwork[]> {
  const { plan, cluster, ports } = ctx;
  // Before any NIC moves: the rail bridges fence the service's fabric ports from the first frame.
  await setupFabricFence(ctx);
  // The declared ports of the services it uses (uses-fence.ts; the node tables below accept its mark).
  await grantUses(ctx);
  if (plan.network.mode === 'host') return setupHostNetwork(ctx);
  const names = serviceNames(cluster.name, plan.name);
  const run = ports.spawner;
  const nodes = serviceNodes(cluster, plan);
  const vni = plan.network.vni ?? 0;
  const mtu = plan.network.mtu;
  const subnet = plan.network.subnet;
  const gateway = segmentGateway(plan);
  const gwTable = gatewayTableName(names.nodeTable);

  const rankNs = plan.ranks.map((r) => ({ rank: r.rank, netns: names.rankNs(r.rank) }));
  const ipamDir = join(ctx.serviceDir, 'cni', 'ipam');
  const hostNsPrefix = (n: ClusterNodeMeta) => netnsExecArgv(n.netns);

  // Every CNI call, worked out up front: bridge + host-local with the planned address, then fabric NICs.
  type CniRecord = Extract<Resource, { kind: 'cni' }>;
  const bridgeCalls: { node: ClusterNodeMeta; rec: CniRecord }[] = [];
  const fabricCalls: { node: ClusterNodeMeta; rec: CniRecord }[] = [];
  for (const r of plan.ranks) {
    const n = nodeOf(cluster, r.node);
    const netns = join(NETNS_DIR, names.rankNs(r.rank));
    bridgeCalls.push({
      node: n,
      rec: {
        kind: 'cni',
        plugin: 'bridge',
        config: {
          cniVersion: '1.0.0',
          name: names.cniNetwork,
          type: 'bridge',
          bridge: names.bridge,
          isGateway: false,
          ipMasq: false,
          hairpinMode: false,
          mtu,
          ipam: {
            type: 'host-local',
            dataDir: ipamDir,
            ranges: [[{ subnet, gateway }]],
            routes: [{ dst: '0.0.0.0/0', gw: gateway }],
          },
        },
        containerId: names.containerId(r.rank),
        netns,
        ifname: 'eth0',
        hostNetns: n.netns,
        args: `IgnoreUnknown=1;IP=${r.address}`,
      },
    });
    for (const f of r.fabricNics) {
      const onNode = n.fabric.find((x) => x.name === f.device);
      const address = f.address ?? onNode?.address;
      fabricCalls.push({
        node: n,
        rec: {
          kind: 'cni',
          plugin: 'host-device',
          config: {
            cniVersion: '1.0.0',
            name: `${names.cniNetwork}-${f.device}`,
            type: 'host-device',
            device: f.device,
            ...(address !== undefined
              ? { ipam: { type: 'static', addresses: [{ address: withPrefix(address) }] } }
              : {}),
          },
          containerId: names.containerId(r.rank),
          netns,
          ifname: f.ifname,
          hostNetns: n.netns,
          restore: {
            device: f.device,
            ...(onNode?.address !== undefined ? { address: onNode.address } : {}),
          },
        },
      });
    }
  }

  // Recorded before anything exists, in creation order (teardown runs in reverse and skips what is absent;
  // a CNI DEL of an attachment that never happened is a no-op, and gives a moved NIC back either way).
  // Kinds kept together (all links, then all node tables) so teardown undoes them in one step, one process per
  // node (tables, then the node's devices by their link group); per node the order is still VXLAN, bridge,
  // tables. A node table's undo removes its gateway table too (both are made by one `nft -f`, atomically).
  const linkGrp = linkGroup(plan.network.vni);
  const inGroup = linkGrp === undefined ? {} : { group: linkGrp };
  const groupWord = linkGrp === undefined ? '' : ` group ${linkGrp}`;
  await ctx.record([
    ...nodes.flatMap((n): Resource[] => [
      { kind: 'link', netns: n.netns, name: names.vxlan, ...inGroup },
      { kind: 'link', netns: n.netns, name: names.bridge, ...inGroup },
    ]),
    ...nodes.map((n): Resource => ({ kind: 'nft', netns: n.netns, table: names.nodeTable })),
    ...rankNs.map((r): Resource => ({ kind: 'netns', name: r.netns })),
    ...bridgeCalls.map((c) => c.rec),
    ...fabricCalls.map((c) => c.rec),
  ]);

  // 1. Per node, in ONE process in the node's namespace: bridge + VXLAN (flooding by the service's own
  //    multicast group on the underlay, so no per-peer fdb entries: n entries per node would make the whole
  //    service n²), the fence/forward table, forwarding on. Nodes in parallel (the kernel serialises link
  //    changes anyway, but nft's start-up overlaps).
  const group = vxlanGroup(vni);
  const nodesDone = runLimited(nodes, NODE_SETUP_PARALLEL, async (n) => {
    const peers = nodes.filter((p) => p.name !== n.name);
    await run.run(
      [
        ...netnsExecArgv(n.netns),
        '/bin/sh',
        '-c',
        shellWithInputs(
          [
            [
              'ip -batch -',
              lines([
                `link add ${names.bridge} mtu ${mtu}${groupWord} type bridge`,
                `addr add ${gateway}/${prefixLen(subnet)} dev ${names.bridge}`,
                `link set ${names.bridge} up`,
                `link add ${names.vxlan} mtu ${mtu}${groupWord} type vxlan id ${vni} local ${n.address} group ${group} dev under0 ttl 1 dstport ${VXLAN_PORT}`,
                `link set ${names.vxlan} master ${names.bridge} up`,
              ]),
            ],
            [
              'nft -f -',
              renderGatewayTable(gwTable, names.vxlan, gateway) +
                renderNodeTable(
                  names.nodeTable,
                  names.bridge,
                  forwards.filter((f) => f.node === n.name),
                  { hostAddress: cluster.hostAddress, vxlan: { vni, peers: peers.map((p) => p.address) } },
                ),
            ],
          ],
          `echo 1 > /proc/sys/net/ipv4/ip_forward; ${BRNF_OFF}`,
        ),
      ],
      {},
    );
  });

  // 2. Meanwhile, a netns per rank: IPv6 off before its interfaces arrive (loopback aside), loopback up. One
  //    `ip -batch` for all of them, then ONE process that enters each (RANK_NETNS_SCRIPT), or, where that
  //    cannot run, a few shells that each enter a share of them (no process per rank either way).
  const ranksDone = (async () => {
    await run.run(['ip', '-batch', '-'], { input: lines(rankNs.map((r) => `netns add ${r.netns}`)) });
    const nr = setnsSyscall();
    if (nr !== undefined) {
      await run.run(['/usr/bin/perl', '-e', RANK_NETNS_SCRIPT, String(nr), ...rankNs.map((r) => r.netns)]);
      trace('network: rank namespaces');
      return;
    }
    await runLimited(chunks(rankNs, RANK_SETUP_PARALLEL), RANK_SETUP_PARALLEL, async (part) => {
      await run.run([
        '/bin/sh',
        '-c',
        `set -e; s="$1"; shift; for n in "$@"; do /usr/bin/nsenter --net=${NETNS_DIR}/"$n" /bin/sh -c "$s"; done`,
        'multinode-rank-netns',
        `${IPV6_OFF} && exec ip link set lo up`,
        ...part.map((r) => r.netns),
      ]);
    });
    trace('network: rank namespaces');
  })();
  const [nodesMade, ranksMade] = await Promise.allSettled([
    nodesDone.then(() => trace('network: nodes')),
    ranksDone,
  ]);
  if (nodesMade.status === 'rejected') throw nodesMade.reason;
  if (ranksMade.status === 'rejected') throw ranksMade.reason;

  // 3. CNI ADDs inside the nodes (host-local locks its own data dir), a few at a time; results kept for DEL.
  const results = new Map<string, unknown>();
  await runLimited(bridgeCalls, 4, async ({ node, rec }) => {
    results.set(
      rec.containerId,
      await ports.cni.invoke({ ...rec, command: 'ADD', hostNsPrefix: hostNsPrefix(node) }),
    );
  });
  // host-device may look a device up in sysfs: `ip netns exec` gives it the node's own /sys.
  for (const { node, rec } of fabricCalls)
    await ports.cni.invoke({ ...rec, command: 'ADD', hostNsPrefix: ['ip', 'netns', 'exec', node.netns] });
  trace('network: CNI');
  await ctx.keepResults?.(results);
  return rankNs;
}

function withPrefix(address: string): string {
  return address.includes('/') ? address : `${address}/24`;
}

function setupHostNetwork(ctx: NetworkContext): RankNetwork[] {
  const { plan, cluster } = ctx;
  return plan.ranks.map((r) => ({ rank: r.rank, netns: nodeOf(cluster, r.node).netns }));
}

/**
 * Perl: what `mount --bind D D; mount --make-private D`, then per (file, name) pair `: > D/file; unshare
 * --uts=D/file hostname name` do, in one process: args unshare's, sethostname's and mount's numbers, D,
 * then the pairs. Each unshare gives the process a new UTS namespace, which keeps living through its bind
 * mount on the file. Stops at the first failure, naming it.
 */
export const UTS_SCRIPT = `use strict;
my ($unshare, $sethostname, $mount, $d, @pairs) = @ARGV;
# syscall() may write through its string arguments: each is a variable of its own, never a literal.
my ($none, $uts) = ('none', '/proc/self/ns/uts');
syscall($mount, $d, $d, 0, 4096, 0) == 0 or die "mount --bind $d: $!\\n";
syscall($mount, $none, $d, 0, 1 << 18, 0) == 0 or die "mount --make-private $d: $!\\n";
while (@pairs >= 2) {
  my ($f, $h) = splice(@pairs, 0, 2);
  my $file = "$d/$f";
  open(my $fh, '>', $file) or die "$file: $!\\n";
  close $fh;
  syscall($unshare, 0x04000000) == 0 or die "unshare --uts: $!\\n";
  syscall($sethostname, $h, length($h)) == 0 or die "hostname $h: $!\\n";
  syscall($mount, $uts, $file, 0, 4096, 0) == 0 or die "mount --bind uts $file: $!\\n";
}
`;

/** Where a rank's own hosts/resolv.conf/hostname live, and its persistent UTS namespace file. */
export function rankEtcDir(serviceDir: string, rank: number): string {
  return join(serviceDir, 'etc', `rank-${rank}`);
}
export function rankUtsPath(serviceDir: string, rank: number): string {
  return join(serviceDir, 'uts', `rank-${rank}`);
}

/**
 * Gives every rank its own host name (a persistent UTS namespace, like a pod's) and its own hosts file that
 * names every rank and node, so `hostname` on rank r prints `<service>-r` and the names in
 * MULTINODE_HOSTLIST resolve the same everywhere.
 */
export async function setupRankIdentity(ctx: NetworkContext): Promise<void> {
  const { plan, cluster, ports } = ctx;
  const utsDir = join(ctx.serviceDir, 'uts');
  await mkdir(utsDir, { recursive: true });
  await ctx.record({ kind: 'mount', path: utsDir });
  // One process: a private bind mount of its own (so the nsfs bind mounts don't propagate), then one
  // persistent UTS namespace per rank with its host name (UTS_SCRIPT; a shell running util-linux's
  // `unshare` and `hostname` per rank where that cannot run).
  const pairs = plan.ranks.flatMap((r) => [`rank-${r.rank}`, r.hostname]);
  const sys = linuxSyscalls();
  if (sys !== undefined)
    await ports.spawner.run([
      '/usr/bin/perl',
      '-e',
      UTS_SCRIPT,
      String(sys.unshare),
      String(sys.sethostname),
      String(sys.mount),
      utsDir,
      ...pairs,
    ]);
  else
    await ports.spawner.run([
      '/bin/sh',
      '-c',
      'set -e; d="$1"; shift; /bin/mount --bind "$d" "$d"; /bin/mount --make-private "$d"; while [ $# -gt 1 ]; do : > "$d/$1"; /usr/bin/unshare --uts="$d/$1" /bin/hostname "$2"; shift 2; done',
      'multinode-uts',
      utsDir,
      ...pairs,
    ]);
  const nodeLines = cluster.nodes.map((n) => `${n.address}\t${n.name}`);
  await runLimited(plan.ranks, ETC_WRITE_PARALLEL, (r) =>
    writeEtcFiles('', r.hostname, rankHostsFile(plan, r, nodeLines), rankEtcDir(ctx.serviceDir, r.rank)),
  );
}

async function readMountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p !== '');
}

/**
 * Calls made in the same turn of the event loop, handed to `flush` together once that turn is over (teardown
 * undoes a run of same-kind resources at once: one process per namespace then, not one per object).
 */
function coalesce<T>(flush: (items: readonly T[]) => Promise<void>): (item: T) => Promise<void> {
  interface Waiter {
    readonly item: T;
    readonly done: () => void;
    readonly fail: (e: unknown) => void;
  }
  let pending: Waiter[] | undefined;
  return (item) =>
    new Promise<void>((done, fail) => {
      if (pending === undefined) {
        const batch: Waiter[] = [];
        pending = batch;
        setImmediate(() => {
          pending = undefined;
          flush(batch.map((b) => b.item)).then(
            () => batch.forEach((b) => b.done()),
            (e: unknown) => batch.forEach((b) => b.fail(e)),
          );
        });
      }
      pending.push({ item, done, fail });
    });
}

function byNetns<T extends { netns: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const i of items) out.set(i.netns, [...(out.get(i.netns) ?? []), i]);
  return out;
}

/** Namespaces handled at once when undoing links and tables (one process each). */
const UNDO_PARALLEL = 4;

/** A node table or a node device to undo, as teardown hands them over. */
export type NodeUndo =
  | { readonly kind: 'nft'; readonly netns: string; readonly table: string }
  | { readonly kind: 'link'; readonly netns: string; readonly name: string; readonly group?: number };

/** Device names put into the undo script as they are: ours are short `[a-z0-9]` words (paths.ts). */
const PLAIN_DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The script that undoes one namespace's node tables and devices, run in that namespace by one shell:
 * - the tables in one `nft -f` that adds each before deleting it (so one already gone is no error), a node
 *   table together with its gateway table;
 * - the devices of each link group in ONE `ip link del group G` (one rtnl operation: see `linkGroup`), but
 *   only after `ip -o link show group G`, in the same shell a moment before, listed nothing but devices this
 *   teardown was given for that group (so the delete can take nothing of another service's or the cluster's,
 *   which no group of ours holds anyway); otherwise, and for devices recorded without a group (records from
 *   before groups) or not removed by their group's delete, one `ip -force -batch` of `link del NAME` (a device
 *   already gone is skipped). Devices in the order given (teardown's: reverse of recording).
 * Nothing in it stops the rest: "already gone" is success; what is left is not checked here.
 */
export function nodeUndoScript(items: readonly NodeUndo[]): string {
  const tables = new Set<string>();
  const byGroup = new Map<number, string[]>();
  const names: string[] = [];
  for (const i of items) {
    if (i.kind === 'nft') {
      tables.add(i.table);
      if (nftFamily(i.table) === 'ip') tables.add(gatewayTableName(i.table));
      continue;
    }
    if (!PLAIN_DEVICE.test(i.name)) continue; // not a name we make; never put into a script
    if (names.includes(i.name)) continue;
    names.push(i.name);
    if (i.group !== undefined && Number.isInteger(i.group) && i.group > 0 && i.group <= 0xffffffff)
      byGroup.set(i.group, [...(byGroup.get(i.group) ?? []), i.name]);
  }
  const out: string[] = [];
  if (tables.size > 0) {
    const script = [...tables].flatMap((t) => [
      `table ${nftFamily(t)} ${t}`,
      `delete table ${nftFamily(t)} ${t}`,
    ]);
    out.push(`nft -f - <<'MULTINODE_EOF' 2>/dev/null\n${lines(script)}MULTINODE_EOF`);
  }
  if (names.length === 0) return out.join('\n');
  // `gone`: the devices a group delete took, each as " NAME ".
  out.push('gone=');
  for (const [g, ns] of byGroup) {
    const want = ` ${ns.join(' ')} `;
    out.push(
      [
        `seen=; ok=1`,
        `while read -r _ d _; do d=\${d%:}; d=\${d%@*}; [ -n "$d" ] || continue; case '${want}' in *" $d "*) seen="$seen $d ";; *) ok=0;; esac; done <<MULTINODE_EOF`,
        `$(ip -o link show group ${g} 2>/dev/null)`,
        `MULTINODE_EOF`,
        `if [ "$ok" = 1 ] && [ -n "$seen" ] && ip link del group ${g} 2>/dev/null; then gone="$gone$seen"; fi`,
      ].join('\n'),
    );
  }
  out.push(
    [
      `set --`,
      `for d in ${names.join(' ')}; do case "$gone" in *" $d "*) ;; *) set -- "$@" "$d";; esac; done`,
      `[ $# -eq 0 ] || printf 'link del %s\\n' "$@" | ip -force -batch - 2>/dev/null`,
    ].join('\n'),
  );
  return out.join('\n');
}

interface UndoBatches {
  readonly netns: (name: string) => Promise<void>;
  readonly node: (item: NodeUndo) => Promise<void>;
}
const undoBatches = new WeakMap<RuntimePorts, UndoBatches>();

/**
 * Batched undo: every namespace of a batch in one `ip -force -batch`; every node table and device of a node
 * namespace (tables and links handed over in the same turn: teardown gives both kinds at once) by one shell in
 * that namespace (`nodeUndoScript`), a few namespaces at a time.
 */
function batchesOf(ports: RuntimePorts): UndoBatches {
  const known = undoBatches.get(ports);
  if (known) return known;
  const run = ports.spawner;
  const made: UndoBatches = {
    netns: coalesce(async (names) => {
      await run.run(['ip', '-force', '-batch', '-'], {
        input: lines(names.map((n) => `netns del ${n}`)),
        check: false,
      });
      await Promise.all(names.map((n) => rm(join(NETNS_DIR, n), { force: true }).catch(() => undefined)));
    }),
    node: coalesce(async (items) => {
      await runLimited([...byNetns(items)], UNDO_PARALLEL, async ([netns, its]) => {
        if (!(await exists(join(NETNS_DIR, netns)))) return;
        const script = nodeUndoScript(its);
        if (script === '') return;
        await run.run([...netnsExecArgv(netns), '/bin/sh', '-c', script], { check: false });
      });
    }),
  };
  undoBatches.set(ports, made);
  return made;
}

/**
 * Undoes one recorded resource; "already gone" is success. `going`: the rank namespaces (names) the same
 * teardown deletes after this resource.
 */
export async function undoResource(
  r: Resource,
  ports: RuntimePorts,
  going: ReadonlySet<string> = new Set(),
): Promise<void> {
  const run = ports.spawner;
  switch (r.kind) {
    case 'cni': {
      const hostNsPrefix =
        r.plugin === 'bridge' ? netnsExecArgv(r.hostNetns) : ['ip', 'netns', 'exec', r.hostNetns];
      const hostAlive = await exists(join(NETNS_DIR, r.hostNetns));
      if (!hostAlive) return;
      const netnsAlive = await exists(r.netns);
      // A bridge attachment (no masquerading, no gateway) holds its veth pair and its address lease, kept in
      // the service's directory (removed with it). When its rank namespace is gone, or is deleted by the same
      // teardown, nothing is left for the plugin to undo: deleting the namespace destroys the veth pair, and
      // the kernel does that for every namespace of the batch at once (32 pairs: ~50 ms, against ~300 ms
      // deleting them one by one, plus three processes per rank for the plugin). A moved NIC is always given back.
      const rankNs = r.netns.startsWith(`${NETNS_DIR}/`) ? r.netns.slice(NETNS_DIR.length + 1) : '';
      const onlyInRankNs = r.config['ipMasq'] !== true && leaseInServiceDir(r.config);
      if (r.plugin === 'bridge' && (!netnsAlive || going.has(rankNs)) && onlyInRankNs) return;
      await ports.cni
        .invoke({
          command: 'DEL',
          plugin: r.plugin,
          config: r.config,
          containerId: r.containerId,
          netns: netnsAlive ? r.netns : '',
          ifname: r.ifname,
          hostNsPrefix,
          ...(r.args !== undefined ? { args: r.args } : {}),
        })
        .catch(() => undefined);
      if (r.restore) {
        // host-device DEL leaves the NIC down and without its address; put it back as the node had it.
        const cmds = [`link set ${r.restore.device} up`];
        if (r.restore.address) cmds.unshift(`addr replace ${r.restore.address} dev ${r.restore.device}`);
        await run.run(['ip', '-n', r.hostNetns, '-force', '-batch', '-'], {
          input: lines(cmds),
          check: false,
        });
      }
      return;
    }
    case 'netns':
      return batchesOf(ports).netns(r.name);
    case 'link':
      return batchesOf(ports).node(r);
    case 'nft':
      if (r.netns === undefined) await run.run(['nft', 'delete', 'table', 'ip', r.table], { check: false });
      else return batchesOf(ports).node({ kind: 'nft', netns: r.netns, table: r.table });
      return;
    case 'mount': {
      const mounts = (await readMountPoints()).filter((p) => p === r.path || p.startsWith(`${r.path}/`));
      // A directory bound onto itself (the ranks' UTS namespace files are mounted inside it: UTS_SCRIPT) is
      // detached with everything under it by a lazy umount of it alone (umount reads the mount table once,
      // and the kernel waits once, instead of once per rank); otherwise one umount for all, innermost first.
      const targets = mounts.includes(r.path)
        ? mounts.filter((p) => p === r.path) // once per mount stacked on it
        : mounts.sort().reverse();
      if (targets.length > 0) await run.run(['/bin/umount', '-l', ...targets], { check: false });
      await rm(r.path, { recursive: true, force: true });
      return;
    }
    case 'ssh-control': {
      // Only a directory that is still ours (0700, not a symlink) is emptied: it may sit outside the state.
      if (!(await isOwnDir(r.path, 0o700))) return;
      let sockets: string[] = [];
      try {
        sockets = await readdir(r.path);
      } catch {
        return;
      }
      await Promise.all(
        sockets.map((sock) =>
          run.run(
            ['ssh', '-F', '/dev/null', '-o', `ControlPath=${join(r.path, sock)}`, '-O', 'exit', 'multinode'],
            {
              check: false,
              timeoutMs: 5000,
            },
          ),
        ),
      );
      await rm(r.path, { recursive: true, force: true });
      return;
    }
    case 'dir':
      await rm(r.path, { recursive: true, force: true });
      return;
    case 'route':
      return undoUsesRoute(r, ports);
    case 'process':
      return; // processes are stopped before teardown walks the list (see teardown.ts)
  }
}

/** Whether a CNI config's host-local leases live in a service directory (as setupServiceNetwork makes them). */
function leaseInServiceDir(config: Readonly<Record<string, unknown>>): boolean {
  const ipam = config['ipam'];
  if (typeof ipam !== 'object' || ipam === null || !('dataDir' in ipam)) return false;
  const dir = ipam.dataDir;
  return typeof dir === 'string' && dir.startsWith(`${join(stateRoot(), STATE.servicesDir)}/`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
