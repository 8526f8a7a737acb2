/**
 * Local-runtime benchmarks, side by side (run as root: `node --import tsx bench/runtime-bench.ts [a|b|c|d]…`):
 *  (a) endpoint req/s (host → 127.0.0.1 → nft DNAT → rank 0) vs the host straight to rank 0 over the same
 *      links vs nginx on the host as a reverse proxy (wrk -t1 -c32 -d5s, interleaved rounds, median), for an
 *      overlay rank 0 and (a') a host-mode one;
 *  (b) `cluster create` of 64 nodes (and delete);
 *  (c) iperf3 rank→rank over the service overlay vs a raw VXLAN between the same nodes, and host-mode ranks
 *      vs the underlay (5 s, 1 stream, median of 3);
 *  (d) `up -d` of an 8-node no-op service until every rank runs (CLI wall time and recorded phases).
 * Everything runs in a private state directory and is removed afterwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI_BUNDLE, median } from './stats.js';

const STATE = mkdtempSync(join(tmpdir(), 'mn-bench-'));
process.env['MULTINODE_STATE_DIR'] = STATE;
const { nodeExecArgv, netnsExecArgv } = await import('../src/targets/local/node-exec.js');
const { createCluster, deleteCluster, readClusterMeta } = await import('../src/targets/local/cluster.js');
const { serviceNames } = await import('../src/targets/local/paths.js');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

const ROOT = resolve(import.meta.dirname, '..');
const NODE = process.execPath;
// The CLI as users run it (`./multinode` → the bundle), built first; MN_BENCH_TSX=1 runs it through tsx.
const CLI =
  process.env['MN_BENCH_TSX'] === '1'
    ? ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')]
    : [join(ROOT, CLI_BUNDLE)];
if (
  process.env['MN_BENCH_TSX'] !== '1' &&
  spawnSync(NODE, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' }).status !== 0
)
  throw new Error('build failed');
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function cli(args: readonly string[]): { code: number; stdout: string; stderr: string; ms: number } {
  const t = performance.now();
  const r = spawnSync(NODE, [...CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t };
}

function run(argv: readonly string[], input?: string): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', ...(input ? { input } : {}) });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

const fmt = (x: number, d = 1) => x.toFixed(d);
function row(label: string, value: string, ratio?: number): void {
  console.log(
    `  ${label.padEnd(52)} ${value.padStart(14)}${ratio === undefined ? '' : `   ${fmt(ratio, 2)}×`}`,
  );
}

function wrk(prefix: readonly string[], url: string): number {
  const out = run([...prefix, 'wrk', '-t1', '-c32', '-d5s', url]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  return m ? Number(m[1]) : NaN;
}

function iperf(serverPrefix: readonly string[], clientPrefix: readonly string[], address: string): number {
  const srv = spawn(
    serverPrefix[0] as string,
    [...serverPrefix.slice(1), 'iperf3', '-s', '-1', '-B', address, '-p', '5201'],
    { stdio: 'ignore' },
  );
  spawnSync('sleep', [serverPrefix[0] === NODE ? '2' : '0.4']); // `multinode exec` starts in ~1 s
  try {
    const out = run([...clientPrefix, 'iperf3', '-c', address, '-p', '5201', '-t', '5', '-J']);
    const j = JSON.parse(out) as { error?: string; end: { sum_received?: { bits_per_second: number } } };
    if (!j.end.sum_received) throw new Error(`iperf3 to ${address}: ${j.error ?? 'no result'}`);
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    srv.kill('SIGKILL');
  }
}

interface PsEntry {
  name: string;
  ranks: { rank: number; node: string; address: string; alive: boolean }[];
  endpoints: { hostPort: number }[];
  timings: Record<string, number>;
}
const ps = () => JSON.parse(cli(['ps', '--output', 'json']).stdout) as PsEntry[];

function rankPrefix(service: string, rank: number): string[] {
  return [NODE, ...CLI, 'exec', service, '--rank', String(rank), '--'];
}

/** Runs `f` and removes whatever the undo list holds afterwards, in reverse, even on failure. */
function withUndo(f: (undo: (argv: readonly string[]) => void) => void): void {
  const undos: (readonly string[])[] = [];
  try {
    f((argv) => undos.push(argv));
  } finally {
    for (const argv of undos.reverse()) spawnSync(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
  }
}

/**
 * (a) The endpoint against a direct connection over the SAME path (LAB-NOTES §3): wrk runs in the root
 * namespace for all three. For the bench only, the host is given a /32 route to rank 0's address via its
 * node over the cluster's one root link, our guard table lets that one flow out and the node's fence lets it
 * through to the rank; all three are removed afterwards. Then, interleaved, ≥ 3 rounds:
 *   direct:   host → rank 0 address (root link → switch → node → service bridge → rank)
 *   endpoint: host → 127.0.0.1:P → nft DNAT → node → nft DNAT → rank 0 (the same links)
 *   nginx:    host → nginx on 127.0.0.1 (keepalive upstream) → rank 0 over the direct route.
 * Overlay first (the default), then host mode (rank 0 in the node's namespace, one DNAT).
 */
async function benchEndpoint(hostMode: boolean): Promise<void> {
  const svc = hostMode ? 'benchhost' : 'benchweb';
  const bport = hostMode ? 18090 : 8080;
  console.log(
    `(a${hostMode ? "'" : ''}) ${hostMode ? 'host-mode' : 'overlay'} rank 0: endpoint vs direct vs nginx, same path — wrk -t1 -c32 -d5s, ${ROUNDS} rounds interleaved, median req/s`,
  );
  const file = join(STATE, `${svc}.yaml`);
  writeFileSync(
    file,
    `version: v1
services:
  ${svc}:
    script: |
      #!/bin/sh
      exec ${NODE} -e "require('http').createServer((q, s) => s.end('ok')).listen(${bport}, '0.0.0.0')"
${hostMode ? '    network:\n      host: true\n' : ''}    ports:
      - name: http
        port: ${bport}
    endpoints:
      - name: web
        port-name: http
        protocol: http
    readiness-probe:
      tcp-socket:
        port: ${bport}
      period-seconds: 1
`,
  );
  const up = cli(['up', '-d', '--cluster', 'bench', file]);
  if (up.code !== 0) throw new Error(up.stderr);
  try {
    const s = ps().find((x) => x.name === svc);
    const r0 = s?.ranks[0];
    const port = s?.endpoints[0]?.hostPort;
    const meta = await readClusterMeta('bench');
    const node = meta?.nodes.find((n) => n.name === r0?.node);
    if (!r0 || !port || !meta || !node) throw new Error('no rank 0 / endpoint');
    withUndo((undo) => {
      const mark = `mn-bench-${process.pid}`;
      // Direct path for the bench only: root → rank 0 over the root link, through the guard and the fence.
      if (!hostMode) {
        run(['ip', 'route', 'add', `${r0.address}/32`, 'via', node.address, 'dev', meta.rootLink]);
        undo(['ip', 'route', 'del', `${r0.address}/32`, 'via', node.address, 'dev', meta.rootLink]);
        const nodeTable = serviceNames('bench', svc).nodeTable;
        const ns = netnsExecArgv(node.netns);
        run([
          ...ns,
          'nft',
          'insert',
          'rule',
          'ip',
          nodeTable,
          'forward',
          'ip',
          'saddr',
          meta.hostAddress,
          'ip',
          'daddr',
          r0.address,
          'tcp',
          'dport',
          String(bport),
          'accept',
          'comment',
          `"${mark}"`,
        ]);
        undo([...ns, 'sh', '-c', deleteMarked(nodeTable, 'forward', mark)]);
      }
      run([
        'nft',
        'insert',
        'rule',
        'ip',
        meta.guardTable,
        'output',
        'oifname',
        meta.rootLink,
        'ip',
        'daddr',
        r0.address,
        'tcp',
        'dport',
        String(bport),
        'accept',
        'comment',
        `"${mark}"`,
      ]);
      undo(['sh', '-c', deleteMarked(meta.guardTable, 'output', mark)]);
      // nginx as a reverse proxy in the root namespace, to rank 0 over the same direct route.
      const nginxDir = join(STATE, `nginx-${svc}`);
      run(['mkdir', '-p', join(nginxDir, 'logs'), join(nginxDir, 'tmp')]);
      writeFileSync(
        join(nginxDir, 'nginx.conf'),
        `worker_processes 1; pid ${nginxDir}/nginx.pid; error_log ${nginxDir}/logs/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${nginxDir}/tmp; proxy_temp_path ${nginxDir}/tmp;
  fastcgi_temp_path ${nginxDir}/tmp; uwsgi_temp_path ${nginxDir}/tmp; scgi_temp_path ${nginxDir}/tmp;
  upstream rank0 { server ${r0.address}:${bport}; keepalive 64; }
  server { listen 127.0.0.1:18080; location / { proxy_pass http://rank0; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`,
      );
      run(['nginx', '-c', join(nginxDir, 'nginx.conf'), '-p', nginxDir]);
      const pid = Number(readFileSync(join(nginxDir, 'nginx.pid'), 'utf8'));
      if (pid > 0) undo(['kill', String(pid)]);
      const direct: number[] = [];
      const endpoint: number[] = [];
      const nginx: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        direct.push(wrk([], `http://${r0.address}:${bport}/`));
        endpoint.push(wrk([], `http://127.0.0.1:${port}/`));
        nginx.push(wrk([], 'http://127.0.0.1:18080/'));
      }
      const d = median(direct);
      row(`direct: host → ${r0.address}:${bport}`, fmt(d, 0));
      row(
        `endpoint: host → 127.0.0.1:${port} (nft DNAT${hostMode ? '' : ' ×2'})`,
        fmt(median(endpoint), 0),
        median(endpoint) / d,
      );
      row('nginx reverse proxy on the host → rank 0', fmt(median(nginx), 0), median(nginx) / d);
      // Under a varying load the per-round ratios (each round's three runs back to back) are steadier.
      const perRound = (xs: number[]) => median(xs.map((x, i) => x / (direct[i] ?? NaN)));
      row(
        '  median of per-round ratios to direct: endpoint, nginx',
        `${fmt(perRound(endpoint), 2)}×, ${fmt(perRound(nginx), 2)}×`,
      );
      row('  rounds (direct / endpoint / nginx)', '');
      for (let i = 0; i < ROUNDS; i++)
        console.log(
          `    ${fmt(direct[i] ?? NaN, 0)} / ${fmt(endpoint[i] ?? NaN, 0)} / ${fmt(nginx[i] ?? NaN, 0)}`,
        );
    });
  } finally {
    cli(['down', svc]);
  }
}

/** A shell command deleting every rule carrying comment `mark` from a chain. */
function deleteMarked(table: string, chain: string, mark: string): string {
  return `nft -a list chain ip ${table} ${chain} | sed -n 's/.*comment "${mark}" # handle \\([0-9]*\\).*/\\1/p' | while read h; do nft delete rule ip ${table} ${chain} handle "$h"; done`;
}

async function benchCreate(): Promise<void> {
  console.log('(b) cluster create / delete of 64 nodes (target ≤ 1 s)');
  const times: number[] = [];
  const dels: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await createCluster({ name: `b64x${i}`, nodes: 64 });
    times.push(performance.now() - t);
    const d = performance.now();
    await deleteCluster(`b64x${i}`);
    dels.push(performance.now() - d);
    spawnSync('sleep', ['3']); // netns cleanup in the kernel is asynchronous
  }
  row('create 64 nodes (median of 3)', `${fmt(median(times), 0)} ms`);
  row('delete 64 nodes (median of 3)', `${fmt(median(dels), 0)} ms`);
}

async function benchIperf(): Promise<void> {
  console.log(`(c) iperf3 1 stream, 5 s, median of 3, Gbit/s (load ${load()})`);
  const file = join(STATE, 'pair.yaml');
  const pair = (name: string, host: boolean) => `  ${name}:
    script: |
      #!/bin/sh
      exec sleep infinity
    multinode:
      nodes: 2
      launch: all
${host ? '    network:\n      host: true\n' : ''}`;
  writeFileSync(file, `version: v1\nservices:\n${pair('ovl', false)}${pair('hst', true)}`);
  const up = cli(['up', '-d', '--cluster', 'bench', file]);
  if (up.code !== 0) throw new Error(up.stderr);
  const meta = await readClusterMeta('bench');
  const all = ps();
  const ovl = all.find((x) => x.name === 'ovl');
  const hst = all.find((x) => x.name === 'hst');
  if (!meta || !ovl || !hst) throw new Error('services missing');
  const [o0, o1] = ovl.ranks;
  const [h0, h1] = hst.ranks;
  if (!o0 || !o1 || !h0 || !h1) throw new Error('ranks missing');
  const n0 = meta.nodes.find((n) => n.name === o0.node);
  const n1 = meta.nodes.find((n) => n.name === o1.node);
  if (!n0 || !n1) throw new Error('nodes missing');
  // A raw VXLAN between the same two nodes, addresses straight on the VXLAN devices.
  const p0 = nodeExecArgv({ clusterName: 'bench', node: n0.name });
  const p1 = nodeExecArgv({ clusterName: 'bench', node: n1.name });
  for (const [n, peer, addr] of [
    [n0, n1, '198.19.250.1'],
    [n1, n0, '198.19.250.2'],
  ] as const) {
    run(
      ['ip', '-n', n.netns, '-batch', '-'],
      `link add vxraw mtu 1450 type vxlan id 77 local ${n.address} dstport 4789 dev under0\naddr add ${addr}/24 dev vxraw\nlink set vxraw up\n`,
    );
    run(['bridge', '-n', n.netns, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxraw', 'dst', peer.address]);
  }
  try {
    const m = (f: () => number) => median([f(), f(), f()]);
    const overlay = m(() => iperf(rankPrefix('ovl', 1), rankPrefix('ovl', 0), o1.address));
    const raw = m(() => iperf(p1, p0, '198.19.250.2'));
    const host = m(() => iperf(rankPrefix('hst', 1), rankPrefix('hst', 0), h1.address));
    const under = m(() => iperf(p1, p0, n1.address));
    row('raw VXLAN node→node', fmt(raw));
    row('overlay rank→rank (VXLAN + bridge + veth)', fmt(overlay), overlay / raw);
    row('underlay node→node', fmt(under));
    row('host-mode rank→rank', fmt(host), host / under);
  } finally {
    for (const n of [n0, n1]) spawnSync('ip', ['-n', n.netns, 'link', 'del', 'vxraw']);
    cli(['down', file]);
  }
}

function benchUp(): void {
  console.log(`(d) up -d of an 8-node no-op service until every rank runs (load ${load()})`);
  const file = join(STATE, 'noop.yaml');
  writeFileSync(
    file,
    `version: v1\nservices:\n  noop:\n    script: |\n      #!/bin/sh\n      exec sleep infinity\n    multinode:\n      nodes: 8\n      launch: all\n`,
  );
  const walls: number[] = [];
  let phases: Record<string, number> = {};
  for (let i = 0; i < 3; i++) {
    const up = cli(['up', '-d', '--cluster', 'bench8', file]);
    if (up.code !== 0) throw new Error(up.stderr);
    const s = ps().find((x) => x.name === 'noop');
    if (!s || !s.ranks.every((r) => r.alive)) throw new Error('not all ranks run');
    walls.push(up.ms);
    phases = s.timings;
    cli(['down', 'noop']);
  }
  const t0 = performance.now();
  spawnSync(NODE, [...CLI, '--version'], { encoding: 'utf8' });
  const startup = performance.now() - t0;
  row('`up -d` wall time, CLI included (median of 3)', `${fmt(median(walls), 0)} ms`);
  row(`  of which CLI start (${CLI.length > 1 ? 'tsx' : 'bundled'})`, `${fmt(startup, 0)} ms`);
  row(
    '  phases place/network/spawn/ready (last run)',
    `${phases['place']}/${phases['network']}/${phases['spawn']}/${phases['ready']} ms`,
  );
}

const which = process.argv.slice(2);
const want = (k: string) => which.length === 0 || which.includes(k);
if (process.getuid?.() !== 0) {
  console.log('runtime bench: needs root');
  process.exit(0);
}
try {
  if (want('a') || want('c')) await createCluster({ name: 'bench', nodes: 2 });
  if (want('d')) await createCluster({ name: 'bench8', nodes: 8 });
  if (want('a')) await benchEndpoint(false);
  if (want('a')) await benchEndpoint(true);
  if (want('c')) await benchIperf();
  if (want('d')) benchUp();
  if (want('b')) await benchCreate();
} finally {
  for (const s of ps()) cli(['down', s.name]);
  for (const c of ['bench', 'bench8']) await deleteCluster(c, { force: true }).catch(() => undefined);
  rmSync(STATE, { recursive: true, force: true });
}
