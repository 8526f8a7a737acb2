/**
 * Network-conditions bench (run as root: `node --import tsx bench/netcond.ts [iterations] [nodes]`).
 * 1. On a 64-node cluster with one fabric rail: apply and clear, each timed (median / max of N):
 *    a rate on every node's underlay (64 htb roots + 64 ifbs with their own htb), a rate on every node's
 *    rail 0, loss on every node (nft only), a partition of the cluster in halves, and all four at once.
 *    Aim: ≤ 1 s each. Each change is 4 commands in the switch namespace whatever the node count.
 * 2. Measured / configured rate: iperf3 (3 s, 1 TCP stream) node-1 → node-2 under a rate on node-2, for
 *    several rates. TCP goodput of a 1500-byte MTU is 1448/1514 = 95.6% of the L2 rate htb counts, so the
 *    second ratio divides that out. Aim: within 5%.
 * Everything runs under a private state directory and is deleted at the end.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median as med } from './stats.js';

const N = Number(process.argv[2] ?? 5);
const NODES = Number(process.argv[3] ?? 64);
const dir = mkdtempSync(join(tmpdir(), 'mn-bench-netcond-'));
process.env['MULTINODE_STATE_DIR'] = dir;
const C = 'ncbench';

const { createCluster, deleteCluster } = await import('../src/targets/local/cluster.js');
const { netHeal, netPartition, netSet } = await import('../src/app/net.js');
const { nodeNetnsName } = await import('../src/targets/local/node-exec.js');

const max = (xs: number[]) => Math.max(...xs);
const fmt = (xs: number[]) => `${med(xs).toFixed(0).padStart(5)} / ${max(xs).toFixed(0).padStart(5)} ms`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

function iperf(from: string, to: string, addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = spawn('ip', ['netns', 'exec', to, 'iperf3', '-s', '-1', '-p', '5299', '-B', addr], {
      stdio: 'ignore',
    });
    setTimeout(() => {
      const r = spawnSync(
        'ip',
        ['netns', 'exec', from, 'iperf3', '-c', addr, '-p', '5299', '-t', '3', '-J'],
        {
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      if (server.exitCode === null) server.kill('SIGTERM');
      try {
        const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
        resolve(j.end.sum_received.bits_per_second);
      } catch (e) {
        reject(new Error(`iperf3: ${r.stdout.slice(0, 300)} ${String(e)}`));
      }
    }, 400);
  });
}

try {
  const meta = await createCluster({ name: C, nodes: NODES, fabricNics: 1 });
  console.log(`cluster ${C}: ${NODES} nodes, 1 fabric rail, created in ${meta.createMs ?? 0} ms`);
  const half = meta.nodes.slice(0, NODES / 2).map((n) => n.name);
  const cases: [string, () => Promise<unknown>][] = [
    ['rate 1gbit, every underlay NIC', () => netSet(C, { target: {}, shape: { rate: 1e9 } })],
    ['rate 10gbit, every rail-0 NIC', () => netSet(C, { target: { rail: 0 }, shape: { rate: 1e10 } })],
    ['loss 1%, every underlay NIC', () => netSet(C, { target: {}, shape: { loss: 1 } })],
    ['partition in halves', () => netPartition(C, half)],
    [
      'all four at once',
      async () => {
        await netSet(C, { target: {}, shape: { rate: 1e9, loss: 1 } });
        await netSet(C, { target: { rail: 0 }, shape: { rate: 1e10 } });
        await netPartition(C, half);
      },
    ],
  ];
  console.log(`\napply / clear on ${NODES} nodes (median / max of ${N}; aim ≤ 1000 ms):`);
  for (const [name, apply] of cases) {
    const a: number[] = [];
    const c: number[] = [];
    for (let i = 0; i < N; i++) {
      a.push(await timed(apply));
      c.push(await timed(() => netHeal(C)));
    }
    console.log(
      `  ${name.padEnd(34)} apply ${fmt(a)}   clear ${fmt(c)}   ratio to 1 s: ${(max([...a, ...c]) / 1000).toFixed(2)}`,
    );
  }

  console.log('\nmeasured / configured rate, iperf3 node-1 → node-2 (rate on node-2, both directions):');
  const n1 = nodeNetnsName(C, 'node-1');
  const n2 = nodeNetnsName(C, 'node-2');
  const addr = meta.nodes[1]?.address ?? '';
  const base = await iperf(n1, n2, addr);
  console.log(`  no condition: ${(base / 1e6).toFixed(0)} Mbit/s`);
  const GOODPUT = 1448 / 1514;
  for (const rate of [50e6, 100e6, 500e6, 1e9, 2e9]) {
    await netSet(C, { target: { nodes: ['node-2'] }, shape: { rate } });
    await sleep(200);
    const got = await iperf(n1, n2, addr);
    const r = got / rate;
    console.log(
      `  ${String(rate / 1e6).padStart(5)} mbit: ${(got / 1e6).toFixed(1).padStart(7)} Mbit/s  measured/configured ${r.toFixed(3)}  vs TCP goodput of the rate ${(r / GOODPUT).toFixed(3)}`,
    );
  }
  await netHeal(C);
  const sw = meta.switchNs;
  const qd = spawnSync('tc', ['-n', sw, 'qdisc', 'show'], { encoding: 'utf8' }).stdout.split('\n');
  const ifbs = spawnSync('ip', ['-n', sw, '-o', 'link', 'show', 'type', 'ifb'], { encoding: 'utf8' }).stdout;
  console.log(
    `\nafter heal: ${qd.filter((l) => / htb | ingress /.test(` ${l} `)).length} htb/ingress qdiscs, ${ifbs.split('\n').filter((l) => l !== '').length} ifbs in the switch namespace`,
  );
} finally {
  await deleteCluster(C, { force: true }).catch((e: unknown) => console.error(e));
  rmSync(dir, { recursive: true, force: true });
}
