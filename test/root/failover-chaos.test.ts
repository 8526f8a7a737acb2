/**
 * Chaos: N cycles of `up -d` → a random SIGKILL (a rank, a rank's grandchild, or the supervisor) at a random
 * moment → `down`, through the in-process API (one bundled supervisor process per cycle, no CLI spawns).
 * After every cycle and at the end: no namespace, link, nft table, mount, process, endpoint port or state
 * entry of the service is left. `MN_CHAOS_CYCLES` sets N (default 100).
 * Also, through the CLI once: after a supervisor SIGKILL, `ps` says so and `down` cleans everything.
 */
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { plannedEnv } from '../../src/targets/local/resolve.js';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EMPTY_SNAPSHOT, cli, hashesFor, snapshot } from './runtime-helpers.js';
import {
  cleanupAll,
  groupPids,
  kill,
  makeCluster,
  pidAlive,
  removeCluster,
  skipReason,
  sleep,
  state,
  supervisorLog,
  upDetached,
  useStateDir,
  waitStatus,
} from './failover-helpers.js';
import { downService } from '../../src/targets/local/teardown.js';
import { isHostPortFree } from '../../src/targets/local/endpoints.js';

const skip = skipReason();

/** What the service holds (the cluster's own node mounts stay until the cluster goes). */
function serviceSnapshot(dir: string, hashes: readonly string[]) {
  const s = snapshot(dir, hashes);
  return { ...s, mounts: s.mounts.filter((m) => !m.includes(`${dir}/clusters/`)) };
}
const CYCLES = Number(process.env['MN_CHAOS_CYCLES'] ?? 100);

const SPEC = (name: string, policy: string) => `version: v1
services:
  ${name}:
    script: |
      #!/bin/sh
      sleep infinity &
      wait
    multinode:
      nodes: 2
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 16MB
    ports:
      - name: web
        port: 8080
    endpoints:
      - name: web
        port-name: web
        protocol: tcp
    restart:
      policy: ${policy}
      backoff-seconds: 0
`;

test(
  `chaos: ${CYCLES} cycles of up -d → random SIGKILL → down leave nothing behind`,
  { skip, timeout: 600_000 },
  async () => {
    const dir = useStateDir('chaos');
    const C = 'focha';
    const name = 'chaos';
    const started = Date.now();
    const kinds: Record<string, number> = { rank: 0, grandchild: 0, supervisor: 0 };
    try {
      await makeCluster(C, 2, 2);
      const hashes = hashesFor(dir, [], [[C, name]]);
      let seed = 12345;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let i = 0; i < CYCLES; i++) {
        const policy = ['on-failure', 'recreate-group', 'never'][rnd(3)] ?? 'on-failure';
        await upDetached(SPEC(name, policy), C, dir);
        const s = await waitStatus(name, ['ready', 'failed'], 60_000);
        assert.equal(s.status, 'ready', `cycle ${i}: ${s.message}\n${supervisorLog(name)}`);
        const ep = s.endpoints[0];
        const seen = new Set<number>([s.supervisorPid ?? -1]);
        for (const r of s.ranks) for (const p of groupPids(r.pid ?? -1)) seen.add(p);
        const kind = ['rank', 'grandchild', 'supervisor'][rnd(3)] ?? 'rank';
        kinds[kind] = (kinds[kind] ?? 0) + 1;
        const rank = s.ranks[rnd(2)];
        if (kind === 'supervisor') kill(s.supervisorPid);
        else if (kind === 'rank') kill(rank?.pid);
        else kill(groupPids(rank?.pid ?? -1).find((p) => p !== rank?.pid));
        await sleep(rnd(300));
        // Whatever it restarted meanwhile counts too.
        try {
          const mid = await state(name);
          for (const r of mid.ranks) for (const p of groupPids(r.pid ?? -1)) seen.add(p);
        } catch {
          /* gone */
        }
        await downService(name, { graceMs: 1000 });
        const left = [...seen].filter((p) => p > 0 && pidAlive(p));
        assert.deepEqual(left, [], `cycle ${i} (${kind}, ${policy}): processes left`);
        assert.deepEqual(serviceSnapshot(dir, hashes), EMPTY_SNAPSHOT, `cycle ${i} (${kind}, ${policy})`);
        assert.ok(!existsSync(join(dir, 'services', name)), `cycle ${i}: state entry left`);
        if (ep)
          assert.ok(
            await isHostPortFree(ep.hostPort),
            `cycle ${i}: endpoint port ${ep.hostPort} still taken`,
          );
      }
      await removeCluster(C);
      assert.deepEqual(snapshot(dir, hashesFor(dir, [C], [[C, name]])), EMPTY_SNAPSHOT);
      assert.deepEqual(existsSync(join(dir, 'services')) ? readdirSync(join(dir, 'services')) : [], []);
      console.log(
        `chaos: ${CYCLES} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s (${JSON.stringify(kinds)})`,
      );
    } finally {
      await cleanupAll(dir, [C]);
    }
  },
);

test('supervisor SIGKILL: ps says so, down cleans everything', { skip, timeout: 120_000 }, async () => {
  const dir = useStateDir('svk');
  const C = 'fosvk';
  try {
    await makeCluster(C, 2, 2);
    const [name = ''] = await upDetached(SPEC('svk', 'recreate-group'), C, dir);
    const s = await waitStatus(name, ['ready', 'failed'], 60_000);
    assert.equal(s.status, 'ready');
    kill(s.supervisorPid);
    // A rank the supervisor spawned but did not get to record before it died: found by its environment.
    const stray = spawn('/bin/sleep', ['infinity'], {
      detached: true,
      stdio: 'ignore',
      env: s.plan.ranks[1] ? plannedEnv(s.plan, s.plan.ranks[1]) : {},
    });
    stray.unref();
    await sleep(200);
    const ps = cli(dir, ['ps']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /supervisor gone/);
    const down = cli(dir, ['down', name]);
    assert.equal(down.code, 0, down.stderr);
    for (const r of s.ranks) assert.ok(!pidAlive(r.pid ?? -1));
    assert.ok(!pidAlive(stray.pid ?? -1), 'the unrecorded rank process is gone too');
    assert.deepEqual(serviceSnapshot(dir, hashesFor(dir, [], [[C, name]])), EMPTY_SNAPSHOT);
  } finally {
    await cleanupAll(dir, [C]);
  }
});
