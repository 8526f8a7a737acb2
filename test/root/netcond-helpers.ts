/** Shared by the netcond root tests: run things in a cluster's node or switch namespace, measure traffic. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { clusterNames } from '../../src/targets/local/paths.js';
import { nodeNetnsName } from '../../src/targets/local/node-exec.js';
import { sleep } from './runtime-helpers.js';

export function withState<T>(stateDir: string, fn: () => T): T {
  const prev = process.env['MULTINODE_STATE_DIR'];
  process.env['MULTINODE_STATE_DIR'] = stateDir;
  try {
    return fn();
  } finally {
    if (prev === undefined) delete process.env['MULTINODE_STATE_DIR'];
    else process.env['MULTINODE_STATE_DIR'] = prev;
  }
}

export function nodeNs(stateDir: string, cluster: string, node: string): string {
  return withState(stateDir, () => nodeNetnsName(cluster, node));
}

export function switchNs(stateDir: string, cluster: string): string {
  return withState(stateDir, () => clusterNames(cluster).switchNs);
}

export function inNs(ns: string, argv: readonly string[], timeoutMs = 60_000): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** iperf3 TCP throughput (bit/s, receiver side) from namespace `from` to `addr` where `to` runs the server. */
export async function iperf(
  from: string,
  to: string,
  addr: string,
  seconds = 3,
  port = 5201,
): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', to, 'iperf3', '-s', '-1', '-p', String(port), '-B', addr], {
    stdio: 'ignore',
  });
  try {
    await sleep(400);
    const r = inNs(from, ['iperf3', '-c', addr, '-p', String(port), '-t', String(seconds), '-J'], 60_000);
    const j = JSON.parse(r.out.slice(r.out.indexOf('{'))) as {
      end?: { sum_received?: { bits_per_second?: number } };
      error?: string;
    };
    const bps = j.end?.sum_received?.bits_per_second;
    if (bps === undefined) throw new Error(`iperf3 failed: ${j.error ?? r.out.slice(0, 400)}`);
    return bps;
  } finally {
    if (server.exitCode === null && server.pid !== undefined) server.kill('SIGTERM');
  }
}

/** Packet loss in percent of `count` pings from namespace `ns` to `addr`. */
export function pingLoss(ns: string, addr: string, count = 300): number {
  const r = inNs(ns, ['ping', '-q', '-c', String(count), '-i', '0.005', '-W', '1', addr], 60_000);
  const m = /([\d.]+)% packet loss/.exec(r.out);
  if (!m) throw new Error(`ping: ${r.out}`);
  return Number(m[1]);
}

/** What of ours the switch namespace holds: htb/ingress qdiscs, ifb devices, our nft table. */
export function switchLeftovers(sw: string): { qdiscs: string[]; ifbs: string[]; tables: string[] } {
  const q = execFileSync('tc', ['-n', sw, 'qdisc', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => / htb | ingress | netem | tbf /.test(` ${l} `));
  const ifbs = execFileSync('ip', ['-n', sw, '-o', 'link', 'show', 'type', 'ifb'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() !== '');
  const tables = execFileSync('ip', ['netns', 'exec', sw, 'nft', 'list', 'tables'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('_net'));
  return { qdiscs: q, ifbs, tables };
}

export const NOTHING_LEFT = { qdiscs: [], ifbs: [], tables: [] };

/** Anything of the conditions in the root namespace (there should never be): ifbs, our table, root-link qdiscs. */
export function rootLeftovers(stateDir: string, cluster: string): string[] {
  const names = withState(stateDir, () => clusterNames(cluster));
  const out: string[] = [];
  out.push(
    ...execFileSync('ip', ['-o', 'link', 'show', 'type', 'ifb'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /^\d+: i(u|f)\d/.test(l)),
  );
  out.push(
    ...execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(`${names.hash}_net`)),
  );
  const q = spawnSync('tc', ['qdisc', 'show', 'dev', names.rootLink], { encoding: 'utf8' }).stdout;
  out.push(...q.split('\n').filter((l) => / htb | ingress /.test(` ${l} `)));
  return out;
}
