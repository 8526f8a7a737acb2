/**
 * Failover bench (run as root: `node --import tsx bench/failover-recreate.ts [iterations]`): SIGKILL of a
 * worker (rank 1) of a no-op service (`sleep infinity`, overlay, backoff 0) until the group is ready again,
 * under `recreate-group` (2, 4, 8 and 32 ranks: `MN_BENCH_SIZES=2,4,8,32`) and, side by side, `on-failure`
 * (the worker alone). The cluster has as many nodes as the largest size. Each row is followed by its ratio to
 * the 2-rank row (how ready-again grows with the group) and the load average when it was taken.
 * Figures per case (median / max of N): detection = SIGKILL → the supervisor's decision recorded in state;
 * exit-seen = SIGKILL → the rank's exit event (the supervisor's own clock); ready = SIGKILL → `ready` again;
 * and the supervisor's recorded phases (stop, replan, spawn). Target: ready ≤ 1 s under recreate-group.
 */
import { readFileSync } from 'node:fs';
import {
  cleanupAll,
  kill,
  makeCluster,
  state,
  upDetached,
  useStateDir,
  waitFor,
  waitStatus,
} from '../test/root/failover-helpers.js';
import { median as med } from './stats.js';

const N = Number(process.argv[2] ?? 10);
const SIZES = (process.env['MN_BENCH_SIZES'] ?? '2,4,8,32').split(',').map(Number);
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const dir = useStateDir('bench');
const C = 'fobench';

function spec(name: string, nodes: number, policy: string): string {
  return `version: v1
services:
  ${name}:
    script: |
      #!/bin/sh
      exec sleep infinity
    multinode:
      nodes: ${nodes}
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 16MB
    restart:
      policy: ${policy}
      backoff-seconds: 0
      max-restarts: 1000
      max-startup-restarts: 1000
`;
}

const max = (xs: number[]) => Math.max(...xs);
const fmt = (xs: number[]) => `${med(xs).toFixed(0).padStart(5)} / ${max(xs).toFixed(0).padStart(5)}`;

interface Row {
  readonly text: string;
  readonly ready: number;
}

async function measure(name: string, nodes: number, policy: string): Promise<Row> {
  await upDetached(spec(name, nodes, policy), C, dir);
  await waitStatus(name, ['ready'], 60_000);
  await waitFor('started', async () => (await state(name)).failover?.ledger.everReady, 10_000);
  const det: number[] = [];
  const seen: number[] = [];
  const ready: number[] = [];
  const stop: number[] = [];
  const spawnMs: number[] = [];
  for (let i = 0; i < N; i++) {
    const s = await state(name);
    const n = s.failover?.history.length ?? 0;
    const t0 = Date.now();
    kill(s.ranks[1]?.pid);
    await waitFor('decision', async () => ((await state(name)).failover?.history.length ?? 0) > n, 10_000, 1);
    det.push(Date.now() - t0);
    const after = await waitFor(
      'ready',
      async () => {
        const x = await state(name);
        return x.status === 'ready' && (x.failover?.history.length ?? 0) > n ? x : undefined;
      },
      20_000,
      2,
    );
    ready.push(Date.now() - t0);
    const h = after.failover?.history.at(-1);
    seen.push(Date.parse(h?.at ?? '') - t0);
    stop.push(h?.timings['stop'] ?? NaN);
    spawnMs.push(h?.timings['spawn'] ?? NaN);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The next service starts on the same nodes: this one goes first.
  const { downService } = await import('../src/targets/local/teardown.js');
  await downService(name, { graceMs: 1000 });
  return {
    text: `${`${policy} ×${nodes}`.padEnd(18)} ${fmt(seen)}   ${fmt(det)}   ${fmt(ready)}   ${fmt(stop)}   ${fmt(spawnMs)}`,
    ready: med(ready),
  };
}

try {
  await makeCluster(C, Math.max(4, ...SIZES), 8);
  const rows: (Row & { load: string })[] = [];
  for (const [name, nodes, policy] of [
    ...SIZES.map((n) => [`rg${n}`, n, 'recreate-group'] as const),
    ['of2', 2, 'on-failure'] as const,
  ]) {
    const l = load();
    rows.push({ ...(await measure(name, nodes, policy)), load: l });
  }
  console.log(`failover: SIGKILL of rank 1 → group ready again (${N} kills each; ms, median / max)`);
  console.log(
    `${'case'.padEnd(18)} ${'exit seen'.padStart(13)}   ${'detection'.padStart(13)}   ${'ready again'.padStart(13)}   ${'stop'.padStart(13)}   ${'spawn'.padStart(13)}   ready vs ×2   load`,
  );
  const base = rows[0]?.ready ?? NaN;
  for (const r of rows)
    console.log(`${r.text}   ${`${(r.ready / base).toFixed(2)}×`.padStart(11)}   ${r.load}`);
  console.log('target: ready again ≤ 1000 ms under recreate-group');
} finally {
  await cleanupAll(dir, [C]);
}
