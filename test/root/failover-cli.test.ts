/**
 * Through the CLI: `up -d --wait-timeout` gives up with a clear message (the service keeps running), and `ps`
 * shows restarts (policy, budget spent, per-phase timings) and ranks restarted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from './runtime-helpers.js';
import {
  cleanupAll,
  kill,
  makeCluster,
  pidAlive,
  skipReason,
  state,
  upDetached,
  useStateDir,
  waitFor,
  waitStatus,
} from './failover-helpers.js';

const skip = skipReason();

const SPEC = (name: string, probe: boolean) => `version: v1
services:
  ${name}:
    script: |
      #!/bin/sh
      exec sleep infinity
    multinode:
      nodes: 2
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 16MB
${probe ? '    ports:\n      - name: web\n        port: 9\n    readiness-probe:\n      tcp-socket:\n        port: 9\n      period-seconds: 1\n' : ''}    restart:
      policy: on-failure
      backoff-seconds: 0
`;

test('up -d --wait-timeout, and ps after a restart', { skip, timeout: 120_000 }, async () => {
  const dir = useStateDir('cli');
  const C = 'focli';
  try {
    await makeCluster(C, 2, 4);
    const file = join(dir, 'never-ready.yaml');
    writeFileSync(file, SPEC('neverready', true));
    const up = cli(dir, ['up', '-d', '--cluster', C, '--wait-timeout', '5', file]);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, /neverready is not ready after 5 s/);
    assert.match(up.stderr, /probe: (waiting|not-ready)/);
    assert.match(up.stderr, /multinode down neverready/);
    assert.equal((await state('neverready')).status, 'running', 'it keeps running');
    assert.equal(cli(dir, ['down', 'neverready']).code, 0);

    const [name = ''] = await upDetached(SPEC('psr', false), C, dir);
    const s = await waitStatus(name, ['ready'], 60_000);
    kill(s.ranks[1]?.pid);
    await waitFor('restarted', async () => {
      const x = await state(name);
      return x.status === 'ready' && (x.failover?.history.length ?? 0) > 0;
    });
    const ps = cli(dir, ['ps']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /psr: restart on-failure, [01]\/5 restarts after start/);
    assert.match(ps.stdout, /rank 1 killed by SIGKILL → restart-rank \[1\] \(detect \d+.*spawn \d+/);
    assert.match(ps.stdout, /psr-1 .*running \(restarted 1×\)/);
    const json = JSON.parse(cli(dir, ['ps', '-o', 'json']).stdout) as {
      group: { ready: boolean };
      restart: { history: unknown[] };
      ranks: { restarts: number }[];
    }[];
    assert.equal(json[0]?.group.ready, true);
    assert.equal(json[0]?.restart.history.length, 1);
    assert.equal(json[0]?.ranks[1]?.restarts, 1);

    // `up` after a supervisor crash: what is left (ranks still running) is replaced, saying so; `up` while
    // supervised is refused.
    const again = join(dir, 'again.yaml');
    writeFileSync(again, SPEC('again', false));
    const up1 = cli(dir, ['up', '-d', '--cluster', C, again]);
    assert.equal(up1.code, 0, up1.stderr);
    const first = await state('again');
    kill(first.supervisorPid);
    await waitFor('supervisor gone', () =>
      Promise.resolve(pidAlive(first.supervisorPid ?? -1) ? undefined : true),
    );
    const up2 = cli(dir, ['up', '-d', '--cluster', C, again]);
    assert.equal(up2.code, 0, up2.stderr);
    assert.match(
      up2.stderr,
      /again: its supervisor \(pid \d+\) is gone \(status ready, 2 of 2 rank\(s\) still running\); replacing it/,
    );
    for (const r of first.ranks) assert.ok(!pidAlive(r.pid ?? -1), `old rank ${r.rank} stopped`);
    const second = await state('again');
    assert.equal(second.status, 'ready');
    assert.notEqual(second.supervisorPid, first.supervisorPid);
    const up3 = cli(dir, ['up', '-d', '--cluster', C, again]);
    assert.notEqual(up3.code, 0);
    assert.match(up3.stderr, /service "again" is already up \(status ready, supervisor pid \d+\)/);
    assert.equal((await state('again')).supervisorPid, second.supervisorPid, 'the running one is untouched');
    assert.equal(cli(dir, ['down', 'again']).code, 0);
  } finally {
    await cleanupAll(dir, [C]);
  }
});

test(
  "leader launch: a worker's sshd is part of the rank; its death is the rank failing, restarted per policy",
  { skip: skip || (existsSync('/usr/sbin/sshd') ? false : 'needs /usr/sbin/sshd'), timeout: 120_000 },
  async () => {
    const dir = useStateDir('grp');
    const C = 'fogrp';
    try {
      await makeCluster(C, 2, 4);
      const [name = ''] = await upDetached(
        `version: v1
services:
  grp:
    script: |
      #!/bin/sh
      exec sleep infinity
    multinode:
      nodes: 2
    resource:
      cpu:
        cores: 1
      memory:
        size: 16MB
    restart:
      policy: on-failure
      backoff-seconds: 0
`,
        C,
        dir,
      );
      const s = await waitStatus(name, ['ready', 'failed'], 60_000);
      assert.equal(s.status, 'ready', s.message);
      const sshdOf = (x: typeof s) =>
        x.resources.find(
          (r) => r.kind === 'process' && r.rank === 1 && r.pid !== x.ranks[1]?.pid && pidAlive(r.pid),
        );
      const sshd = sshdOf(s);
      assert.ok(sshd && sshd.kind === 'process');
      kill(sshd.pid);
      const after = await waitFor('rank 1 restarted with a new sshd, group ready', async () => {
        const x = await state(name);
        const h = x.failover?.history.at(-1);
        return x.status === 'ready' && h && /rank 1's sshd killed by SIGKILL/.test(h.trigger) ? x : undefined;
      });
      assert.equal(after.ranks[0]?.pid, s.ranks[0]?.pid, 'rank 0 untouched under on-failure');
      assert.equal(after.ranks[1]?.restarts, 1);
      assert.notEqual(after.ranks[1]?.pid, s.ranks[1]?.pid);
      const again = sshdOf(after);
      assert.ok(again && again.kind === 'process' && again.pid !== sshd.pid, 'a new sshd for rank 1');
      // The new sshd answers: rank 0 reaches rank 1 through the wrapper.
      const host1 = after.plan.ranks[1]?.hostname ?? '';
      const r = cli(dir, [
        'exec',
        name,
        '--',
        '/bin/sh',
        '-c',
        `MULTINODE_WRAPPER_FORWARD_STREAMS=1 "$MULTINODE_SSH_WRAPPER" ${host1} hostname`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), host1);
      const ps = cli(dir, ['ps']);
      assert.match(ps.stdout, /rank 1's sshd killed by SIGKILL/);
    } finally {
      await cleanupAll(dir, [C]);
    }
  },
);
