/**
 * Data path, both issue-15 pairs side by side in ONE run (root: `node --import tsx bench/datapath.ts [rounds] [secs]`):
 *  - host-mode endpoint vs the host talking to rank 0 directly (wrk -t1 -c32 req/s, and iperf3 1 stream
 *    Gbit/s through a second endpoint): host → 127.0.0.1:P → nft DNAT (+ SNAT) → node address → rank 0, vs
 *    host → node address → rank 0 over the same root link;
 *  - overlay rank→rank (veth → bridge → VXLAN → under0 … and back up) vs a raw VXLAN between the same two
 *    nodes, addresses straight on the VXLAN devices (iperf3 1 stream, Gbit/s).
 * Every round runs each of the six measurements once, in an order that alternates between rounds (ABBA), so
 * a change of load hits both sides of a pair alike; the report gives medians, the median of the per-round
 * ratios (the steadier figure on a shared machine) and the load average before each round.
 * MN_DP_TOGGLE='<sh>' applies a setting for an experiment after `up` (run in the root namespace with NODES, RANKS,
 * BRIDGE and VXLAN naming the overlay's node and rank namespaces and devices).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI_BUNDLE, median } from './stats.js';

const STATE = mkdtempSync(join(tmpdir(), 'mn-dp-'));
process.env['MULTINODE_STATE_DIR'] = STATE;
const { netnsExecArgv } = await import('../src/targets/local/node-exec.js');
const { createCluster, deleteCluster, readClusterMeta } = await import('../src/targets/local/cluster.js');
const { serviceNames } = await import('../src/targets/local/paths.js');

const ROUNDS = Number(process.argv[2] ?? 5);
const SECS = Number(process.argv[3] ?? 3);
const ROOT = resolve(import.meta.dirname, '..');
const NODE = process.execPath;
const CLI = [join(ROOT, CLI_BUNDLE)];
const CLUSTER = 'dpbench';
const HTTP_PORT = 18090;
const BULK_PORT = 18091;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const fmt = (x: number, d = 1) => x.toFixed(d);

function cli(args: readonly string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(NODE, [...CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function run(argv: readonly string[], input?: string, env?: Record<string, string>): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), {
    encoding: 'utf8',
    ...(input ? { input } : {}),
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function wrk(url: string): number {
  const out = run(['wrk', '-t1', '-c32', `-d${SECS}s`, url]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  return m ? Number(m[1]) : NaN;
}

/** iperf3 CPU (client + server, % of one CPU, from getrusage: softirq work done in their context too). */
const iperfCpu: number[] = [];
function iperf(clientPrefix: readonly string[], address: string, port: number): number {
  const out = run([...clientPrefix, 'iperf3', '-c', address, '-p', String(port), '-t', String(SECS), '-J']);
  const j = JSON.parse(out) as {
    error?: string;
    end: {
      sum_received?: { bits_per_second: number };
      cpu_utilization_percent?: { host_total: number; remote_total: number };
    };
  };
  if (!j.end.sum_received) throw new Error(`iperf3 to ${address}:${port}: ${j.error ?? 'no result'}`);
  const cpu = j.end.cpu_utilization_percent;
  iperfCpu.push(cpu ? cpu.host_total + cpu.remote_total : NaN);
  return j.end.sum_received.bits_per_second / 1e9;
}

interface PsEntry {
  name: string;
  ranks: { rank: number; node: string; address: string; alive: boolean }[];
  endpoints: { name: string; hostPort: number }[];
}
const ps = () => JSON.parse(cli(['ps', '--output', 'json']).stdout) as PsEntry[];

/** A shell command deleting every rule carrying comment `mark` from a chain. */
function deleteMarked(table: string, chain: string, mark: string): string {
  return `nft -a list chain ip ${table} ${chain} | sed -n 's/.*comment "${mark}" # handle \\([0-9]*\\).*/\\1/p' | while read h; do nft delete rule ip ${table} ${chain} handle "$h"; done`;
}

if (process.getuid?.() !== 0) {
  console.log('datapath bench: needs root');
  process.exit(0);
}
if (spawnSync(NODE, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' }).status !== 0)
  throw new Error('build failed');

const undos: (readonly string[])[] = [];
const servers: ChildProcess[] = [];
const file = join(STATE, 'dp.yaml');
try {
  await createCluster({ name: CLUSTER, nodes: 2 });
  writeFileSync(
    file,
    `version: v1
services:
  hep:
    script: |
      #!/bin/sh
      exec ${NODE} -e "require('http').createServer((q, s) => s.end('ok')).listen(${HTTP_PORT}, '0.0.0.0')"
    network:
      host: true
    ports:
      - name: http
        port: ${HTTP_PORT}
      - name: bulk
        port: ${BULK_PORT}
    endpoints:
      - name: web
        port-name: http
        protocol: http
      - name: bulk
        port-name: bulk
    readiness-probe:
      tcp-socket:
        port: ${HTTP_PORT}
      period-seconds: 1
  ovl:
    script: |
      #!/bin/sh
      exec sleep infinity
    multinode:
      nodes: 2
      launch: all
`,
  );
  const up = cli(['up', '-d', '--cluster', CLUSTER, file]);
  if (up.code !== 0) throw new Error(up.stderr);
  const meta = await readClusterMeta(CLUSTER);
  const all = ps();
  const hep = all.find((x) => x.name === 'hep');
  const ovl = all.find((x) => x.name === 'ovl');
  const h0 = hep?.ranks[0];
  const [o0, o1] = ovl?.ranks ?? [];
  const web = hep?.endpoints.find((e) => e.name === 'web')?.hostPort;
  const bulk = hep?.endpoints.find((e) => e.name === 'bulk')?.hostPort;
  if (!meta || !h0 || !o0 || !o1 || !web || !bulk) throw new Error('services, ranks or endpoints missing');
  const node = (name: string) => {
    const n = meta.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  };
  const hn = node(h0.node);
  const n0 = node(o0.node);
  const n1 = node(o1.node);
  if (n0.name === n1.name) throw new Error('overlay ranks share a node');

  // Direct to the host-mode rank: the guard table lets only DNAT-ed traffic out of the root link; one rule,
  // for the bench only, lets the host's own connections to rank 0's two ports out too.
  const mark = `mn-dp-${process.pid}`;
  run([
    ...['nft', 'insert', 'rule', 'ip', meta.guardTable, 'output', 'oifname', meta.rootLink],
    ...['ip', 'daddr', hn.address, 'tcp', 'dport', `{ ${HTTP_PORT}, ${BULK_PORT} }`, 'accept'],
    ...['comment', `"${mark}"`],
  ]);
  undos.push(['sh', '-c', deleteMarked(meta.guardTable, 'output', mark)]);

  // A raw VXLAN between the overlay's two nodes, the overlay's MTU, addresses straight on the devices.
  const mtu = Number(
    run(['ip', '-n', n0.netns, '-o', 'link', 'show', serviceNames(CLUSTER, 'ovl').vxlan]).match(
      /mtu (\d+)/,
    )?.[1] ?? 1450,
  );
  for (const [n, peer, addr] of [
    [n0, n1, '198.19.250.1'],
    [n1, n0, '198.19.250.2'],
  ] as const) {
    undos.push(['ip', '-n', n.netns, 'link', 'del', 'vxraw']);
    run(
      ['ip', '-n', n.netns, '-batch', '-'],
      `link add vxraw mtu ${mtu} type vxlan id 77 local ${n.address} dstport 4790 dev under0\naddr add ${addr}/24 dev vxraw\nlink set vxraw up\n`,
    );
    run(['bridge', '-n', n.netns, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxraw', 'dst', peer.address]);
  }
  // An experiment's setting: a shell run once in the root namespace, told the overlay's node and rank
  // namespaces, its bridge and VXLAN device (NODES, RANKS, BRIDGE, VXLAN).
  const toggle = process.env['MN_DP_TOGGLE'];
  const ovlNames = serviceNames(CLUSTER, 'ovl');
  if (toggle)
    run(['sh', '-ec', toggle], undefined, {
      NODES: `${n0.netns} ${n1.netns}`,
      RANKS: `${ovlNames.rankNs(o0.rank)} ${ovlNames.rankNs(o1.rank)}`,
      BRIDGE: ovlNames.bridge,
      VXLAN: ovlNames.vxlan,
    });

  // iperf3 servers: in the overlay's rank 1, on the raw VXLAN of its node, and in the host-mode rank's node.
  const names = serviceNames(CLUSTER, 'ovl');
  const r0 = netnsExecArgv(names.rankNs(o0.rank));
  const r1 = netnsExecArgv(names.rankNs(o1.rank));
  const serve = (prefix: readonly string[], args: readonly string[]) =>
    servers.push(
      spawn(prefix[0] as string, [...prefix.slice(1), 'iperf3', '-s', ...args], { stdio: 'ignore' }),
    );
  serve(r1, ['-B', o1.address, '-p', '5201']);
  serve(netnsExecArgv(n1.netns), ['-B', '198.19.250.2', '-p', '5202']);
  serve(netnsExecArgv(hn.netns), ['-p', String(BULK_PORT)]);
  spawnSync('sleep', ['0.5']);

  type Key = 'direct' | 'endpoint' | 'directBulk' | 'endpointBulk' | 'overlay' | 'raw';
  const steps: [Key, () => number][] = [
    ['direct', () => wrk(`http://${hn.address}:${HTTP_PORT}/`)],
    ['endpoint', () => wrk(`http://127.0.0.1:${web}/`)],
    ['directBulk', () => iperf([], hn.address, BULK_PORT)],
    ['endpointBulk', () => iperf([], '127.0.0.1', bulk)],
    ['overlay', () => iperf(r0, o1.address, 5201)],
    ['raw', () => iperf(netnsExecArgv(n0.netns), '198.19.250.2', 5202)],
  ];
  const perKey = (): Record<Key, number[]> =>
    Object.fromEntries(steps.map(([k]): [Key, number[]] => [k, []])) as Record<Key, number[]>;
  const got = perKey();
  const loads: string[] = [];
  /** CPU % (client + server) per Gbit/s: the cost of a byte, steadier than throughput when CPUs are shared. */
  const cpuPerGbit = perKey();
  console.log(
    `data path: ${ROUNDS} rounds, ${SECS} s per run, interleaved (ABBA); overlay MTU ${mtu}${toggle ? `; toggle: ${toggle}` : ''}`,
  );
  for (let i = 0; i < ROUNDS; i++) {
    loads.push(load());
    const order = i % 2 === 0 ? steps : [...steps].reverse();
    for (const [k, f] of order) {
      const before = iperfCpu.length;
      const v = f();
      got[k].push(v);
      if (iperfCpu.length > before) cpuPerGbit[k].push((iperfCpu.at(-1) ?? NaN) / v);
    }
  }
  const ratio = (a: Key, b: Key) => median(got[a].map((x, i) => x / (got[b][i] ?? NaN)));
  const line = (label: string, a: Key, b: Key, unit: string, d: number) =>
    console.log(
      `  ${label.padEnd(44)} ${fmt(median(got[a]), d).padStart(9)} vs ${fmt(median(got[b]), d).padStart(9)} ${unit.padEnd(7)} ${fmt(median(got[a]) / median(got[b]), 3)}× of medians, ${fmt(ratio(a, b), 3)}× per-round median`,
    );
  line('host-mode endpoint vs direct, wrk req/s', 'endpoint', 'direct', 'req/s', 0);
  line('host-mode endpoint vs direct, iperf3', 'endpointBulk', 'directBulk', 'Gbit/s', 2);
  line('overlay rank→rank vs raw VXLAN, iperf3', 'overlay', 'raw', 'Gbit/s', 2);
  const cost = (label: string, a: Key, b: Key) =>
    console.log(
      `  ${label.padEnd(44)} ${fmt(median(cpuPerGbit[a]), 2).padStart(9)} vs ${fmt(median(cpuPerGbit[b]), 2).padStart(9)} CPU%/(Gbit/s) ${fmt(median(cpuPerGbit[a].map((x, i) => x / (cpuPerGbit[b][i] ?? NaN))), 3)}× per-round median`,
    );
  cost('  iperf3 CPU per Gbit/s: endpoint vs direct', 'endpointBulk', 'directBulk');
  cost('  iperf3 CPU per Gbit/s: overlay vs raw', 'overlay', 'raw');
  console.log('  per round (load 1/5/15 min before it): direct/endpoint req/s; bulk; overlay/raw Gbit/s');
  for (let i = 0; i < ROUNDS; i++) {
    const g = (k: Key, d: number) => fmt(got[k][i] ?? NaN, d);
    console.log(
      `    [${loads[i]}] ${g('direct', 0)}/${g('endpoint', 0)}; ${g('directBulk', 2)}/${g('endpointBulk', 2)}; ${g('overlay', 2)}/${g('raw', 2)}`,
    );
  }
  console.log(`  load after: ${load()}`);
} finally {
  for (const s of servers) s.kill('SIGKILL');
  for (const argv of undos.reverse()) spawnSync(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
  cli(['down', file]);
  await deleteCluster(CLUSTER, { force: true }).catch(() => undefined);
  rmSync(STATE, { recursive: true, force: true });
}
