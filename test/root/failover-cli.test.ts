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
    const up = cli(dir, ['up', '-d', '--cluster', C, '--wait-timeout', '2', file]);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, /neverready is not ready after 2 s/);
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
  } finally {
    await cleanupAll(dir, [C]);
  }
});

test(
  'group readiness in leader launch: a worker whose sshd is gone is missing; ps says which and since when',
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
`,
        C,
        dir,
      );
      const s = await waitStatus(name, ['ready', 'failed'], 60_000);
      assert.equal(s.status, 'ready', s.message);
      const sshd = s.resources.find((r) => r.kind === 'process' && r.rank === 1 && r.pid !== s.ranks[1]?.pid);
      assert.ok(sshd && sshd.kind === 'process');
      kill(sshd.pid);
      const after = await waitFor('rank 1 missing', async () => {
        const x = await state(name);
        return x.group && !x.group.ready && x.group.missing.some((m) => m.rank === 1) ? x : undefined;
      });
      assert.equal(after.status, 'running');
      assert.match(after.group?.missing[0]?.why ?? '', /sshd not answering/);
      const ps = cli(dir, ['ps']);
      assert.match(ps.stdout, /missing rank 1 since \S+ \(sshd not answering\)/);
    } finally {
      await cleanupAll(dir, [C]);
    }
  },
);
