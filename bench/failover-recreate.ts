/**
 * Failover bench (run as root: `node --import tsx bench/failover-recreate.ts [iterations]`): SIGKILL of a
 * worker (rank 1) of a no-op service (`sleep infinity`, overlay, backoff 0) until the group is ready again,
 * under `recreate-group` (2 and 4 ranks) and, side by side, `on-failure` (the worker alone).
 * Figures per case (median / max of N): detection = SIGKILL → the supervisor's decision recorded in state;
 * exit-seen = SIGKILL → the rank's exit event (the supervisor's own clock); ready = SIGKILL → `ready` again;
 * and the supervisor's recorded phases (stop, replan, spawn). Target: ready ≤ 1 s under recreate-group.
 */
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

const N = Number(process.argv[2] ?? 10);
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

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const max = (xs: number[]) => Math.max(...xs);
const fmt = (xs: number[]) => `${med(xs).toFixed(0).padStart(5)} / ${max(xs).toFixed(0).padStart(5)}`;

async function measure(name: string, nodes: number, policy: string): Promise<string> {
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
  return `${`${policy} ×${nodes}`.padEnd(18)} ${fmt(seen)}   ${fmt(det)}   ${fmt(ready)}   ${fmt(stop)}   ${fmt(spawnMs)}`;
}

try {
  await makeCluster(C, 4, 8);
  const rows = [
    await measure('rg2', 2, 'recreate-group'),
    await measure('rg4', 4, 'recreate-group'),
    await measure('of2', 2, 'on-failure'),
  ];
  console.log(`failover: SIGKILL of rank 1 → group ready again (${N} kills each; ms, median / max)`);
  console.log(
    `${'case'.padEnd(18)} ${'exit seen'.padStart(13)}   ${'detection'.padStart(13)}   ${'ready again'.padStart(13)}   ${'stop'.padStart(13)}   ${'spawn'.padStart(13)}`,
  );
  for (const r of rows) console.log(r);
  console.log('target: ready again ≤ 1000 ms under recreate-group');
} finally {
  await cleanupAll(dir, [C]);
}
