/**
 * Restart policies acted on by the supervisor, on 2-rank services (launch: all) where rank 1 exits 0, exits 1
 * or dies by SIGKILL on demand; the budget stopping a crash loop (before start) and "after start" budgets.
 * All services run side by side on one cluster, through the in-process harness.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupAll,
  groupPids,
  kill,
  makeCluster,
  pidAlive,
  skipReason,
  state,
  supervisorLog,
  upDetached,
  useStateDir,
  waitFor,
  waitStatus,
} from './failover-helpers.js';
import type { ServiceState } from '../../src/targets/local/service-state.js';

const skip = skipReason();
const CLUSTER = 'fopol';

/** Rank R exits with the code written to `<dir>/<service>-exit-R` (the file is consumed), else waits. */
function spec(name: string, dir: string, restart: string): string {
  return `version: v1
services:
  ${name}:
    script: |
      #!/bin/sh
      f=${dir}/${name}-exit-$MULTINODE_NODE_RANK
      sleep infinity &
      while [ ! -f "$f" ]; do sleep 0.05; done
      c=$(cat "$f"); rm -f "$f"; exit "$c"
    multinode:
      nodes: 2
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 32MB
    restart:
${restart}
`;
}

type Kind = 'exit0' | 'exit1' | 'kill';

async function trigger(name: string, dir: string, kind: Kind): Promise<ServiceState> {
  const before = await state(name);
  const pid = before.ranks[1]?.pid;
  if (kind === 'kill') kill(pid);
  else writeFileSync(join(dir, `${name}-exit-1`), kind === 'exit0' ? '0' : '1');
  const n = before.failover?.history.length ?? 0;
  // Settled: a decision was recorded (restart/fail), or rank 1 finished with 0.
  return waitFor(`${name} to act on ${kind}`, async () => {
    const s = await state(name);
    const h = s.failover?.history ?? [];
    if (s.status === 'failed') return s;
    if (h.at(-1)?.action === 'fail') return undefined;
    if (kind === 'exit0') return s.ranks[1]?.status === 'exited' ? s : undefined;
    return h.length > n && s.status === 'ready' ? s : undefined;
  });
}

const pids = (s: ServiceState) => s.ranks.map((r) => r.pid);

test(
  'restart policies: never, on-failure, exit-code, recreate-group × exit 0, exit 1, SIGKILL',
  { skip, timeout: 240_000 },
  async () => {
    const dir = useStateDir('pol');
    const fast = '      backoff-seconds: 0\n';
    try {
      await makeCluster(CLUSTER, 2, 16);
      const cases: [string, string][] = [
        ['nevk', '      policy: never\n'],
        ['nev1', '      policy: never\n'],
        ['nev0', '      policy: never\n'],
        ['onf', `      policy: on-failure\n${fast}`],
        ['exc', `      policy: exit-code\n${fast}`],
        ['exc1', `      policy: exit-code\n${fast}`],
        ['rcg', `${fast}`], // the default for 2 ranks
      ];
      for (const [n, r] of cases) await upDetached(spec(n, dir, r), CLUSTER, dir);
      const ready = async (n: string) => {
        const s = await waitStatus(n, ['ready', 'failed'], 60_000);
        assert.equal(s.status, 'ready', `${n}: ${s.message}\n${supervisorLog(n)}`);
        return s;
      };
      await Promise.all(cases.map(([n]) => ready(n)));
      assert.equal((await state('rcg')).plan.restart.policy, 'recreate-group');

      await Promise.all([
        // never: any failure fails the service (ranks stopped, left for inspection); exit 0 is just done.
        (async () => {
          const s = await trigger('nevk', dir, 'kill');
          assert.equal(s.status, 'failed');
          assert.match(s.message ?? '', /killed by signal 9; restart policy is never/);
        })(),
        (async () => {
          const s = await trigger('nev1', dir, 'exit1');
          assert.equal(s.status, 'failed');
          assert.match(s.message ?? '', /exited with code 1; restart policy is never/);
        })(),
        (async () => {
          const before = await state('nev0');
          const s = await trigger('nev0', dir, 'exit0');
          assert.equal(s.ranks[1]?.status, 'exited');
          assert.notEqual(s.status, 'failed');
          assert.equal(s.ranks[0]?.pid, before.ranks[0]?.pid);
          assert.equal(s.failover?.history.length ?? 0, 0);
        })(),
        // on-failure: the failed rank alone restarts (rank 0 untouched); exit 0 is done.
        (async () => {
          const b = await state('onf');
          const grandchildren = groupPids(b.ranks[1]?.pid ?? -1).filter((p) => p !== b.ranks[1]?.pid);
          assert.ok(grandchildren.length > 0, 'rank 1 has a background child');
          let s = await trigger('onf', dir, 'kill');
          assert.equal(s.ranks[0]?.pid, b.ranks[0]?.pid, 'rank 0 untouched');
          assert.notEqual(s.ranks[1]?.pid, b.ranks[1]?.pid);
          assert.equal(s.failover?.history.at(-1)?.action, 'restart-rank');
          // A rank's grandchildren never outlive it.
          await waitFor(
            'grandchildren gone',
            () => Promise.resolve(grandchildren.every((p) => !pidAlive(p))),
            10_000,
          );
          s = await trigger('onf', dir, 'exit1');
          assert.equal(s.ranks[0]?.pid, b.ranks[0]?.pid);
          assert.equal(s.failover?.history.length, 2);
          assert.equal(s.ranks[1]?.restarts, 2);
          s = await trigger('onf', dir, 'exit0');
          assert.equal(s.ranks[1]?.status, 'exited');
          assert.equal(s.failover?.history.length, 2);
        })(),
        // exit-code: signal deaths (128+) are retried, 1–127 are permanent.
        (async () => {
          const b = await state('exc');
          let s = await trigger('exc', dir, 'kill');
          assert.equal(s.ranks[0]?.pid, b.ranks[0]?.pid);
          assert.equal(s.failover?.history.at(-1)?.action, 'restart-rank');
          s = await trigger('exc', dir, 'exit0');
          assert.equal(s.ranks[1]?.status, 'exited');
          s = await trigger('exc1', dir, 'exit1');
          assert.equal(s.status, 'failed');
          assert.match(s.message ?? '', /permanent failure/);
        })(),
        // recreate-group: every rank restarts.
        (async () => {
          const b = await state('rcg');
          let s = await trigger('rcg', dir, 'kill');
          assert.equal(s.failover?.history.at(-1)?.action, 'recreate-group');
          assert.ok(
            pids(s).every((p, i) => p !== pids(b)[i]),
            'every rank restarted',
          );
          assert.ok(!pidAlive(b.ranks[0]?.pid ?? -1));
          const b2 = s;
          s = await trigger('rcg', dir, 'exit1');
          assert.ok(pids(s).every((p, i) => p !== pids(b2)[i]));
          const h = s.failover?.history.at(-1);
          assert.ok(h && h.timings['stop'] !== undefined && h.timings['spawn'] !== undefined);
          s = await trigger('rcg', dir, 'exit0');
          assert.equal(s.ranks[1]?.status, 'exited');
        })(),
      ]);
    } finally {
      await cleanupAll(dir, [CLUSTER]);
    }
  },
);

test(
  'budgets: a crash loop stops at max-startup-restarts; after start, max-restarts',
  { skip, timeout: 120_000 },
  async () => {
    const dir = useStateDir('bud');
    try {
      await makeCluster('fobud', 2, 8);
      await upDetached(
        `version: v1
services:
  loop:
    script: |
      #!/bin/sh
      [ "$MULTINODE_NODE_RANK" = 1 ] && exit 3
      exec sleep infinity
    multinode:
      nodes: 2
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 32MB
    restart:
      policy: on-failure
      max-startup-restarts: 2
      backoff-seconds: 0.05
`,
        'fobud',
        dir,
      );
      await upDetached(
        spec('after', dir, '      policy: on-failure\n      max-restarts: 1\n      backoff-seconds: 0\n'),
        'fobud',
        dir,
      );
      const loop = await waitStatus('loop', ['failed'], 60_000);
      assert.match(loop.message ?? '', /max-startup-restarts \(2\) spent/);
      assert.equal(loop.failover?.ledger.restartsBeforeStart, 2);
      assert.equal(loop.failover?.ledger.everReady, false);
      assert.equal(loop.failover?.history.length, 3);
      assert.ok(
        loop.ranks.every((r) => r.pid === undefined || !pidAlive(r.pid)),
        'ranks stopped',
      );

      await waitStatus('after', ['ready'], 60_000);
      await waitFor(
        'after to count as started',
        async () => (await state('after')).failover?.ledger.everReady,
      );
      let s = await trigger('after', dir, 'kill');
      assert.equal(s.status, 'ready');
      assert.equal(s.failover?.ledger.restartsAfterStart, 1);
      s = await trigger('after', dir, 'kill');
      assert.equal(s.status, 'failed');
      assert.match(s.message ?? '', /max-restarts \(1\) spent/);
    } finally {
      await cleanupAll(dir, ['fobud']);
    }
  },
);
