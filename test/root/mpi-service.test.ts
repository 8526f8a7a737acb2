/**
 * The issue's "done" case through the whole product: `multinode up` of an `implementation: ompi` service of
 * 3 nodes on an emulated cluster, whose rank-0 script is just `mpirun -np 6 ./allreduce` (compiled in set-up
 * with `mpicc.openmpi`). The runtime starts sshd on every rank and points the rank environment at the
 * wrapper, hostfile and service subnet; the script also reads every rank's interface counters through the
 * wrapper before and after, to show the allreduce went over the cluster network.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { rootSkipReason } from './ssh-fixture.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const skip = rootSkipReason([
  '/usr/bin/mpirun.openmpi',
  '/usr/bin/mpicc.openmpi',
  '/usr/lib/cni/bridge',
  '/usr/sbin/nft',
]);

function cli(state: string, args: readonly string[], timeoutMs = 150_000) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, MULTINODE_STATE_DIR: state, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

// Sum of received bytes over the rank's non-loopback interfaces (the runtime mounts a fresh sysfs per rank).
const RX = `for f in /sys/class/net/*/statistics/rx_bytes; do case $f in */lo/*) ;; *) cat $f ;; esac; done | awk '{s+=$1} END {print s+0}'`;

test(
  'ompi service: `mpirun -np 6 ./allreduce` typed on rank 0 of a 3-node service',
  { skip: skip ?? false, timeout: 200_000 },
  () => {
    const work = mkdtempSync(join(tmpdir(), 'mn-mpisvc-'));
    const state = join(work, 'state');
    try {
      const cc = spawnSync(
        '/usr/bin/mpicc.openmpi',
        ['-O2', '-o', join(work, 'allreduce'), join(ROOT, 'test', 'programs', 'allreduce.c')],
        { encoding: 'utf8' },
      );
      assert.equal(cc.status, 0, cc.stderr);
      const script = [
        '#!/bin/sh',
        `rx() { for h in $(echo $MULTINODE_HOSTLIST_NOSLOTS | tr , ' '); do echo "RX $1 $h $(MULTINODE_WRAPPER_FORWARD_STREAMS=1 $MULTINODE_SSH_WRAPPER $h "${RX.replace(/[$"\\`]/g, (m) => `\\${m}`)}")"; done; }`,
        'rx before',
        'mpirun -np 6 ./allreduce || exit 1',
        'rx after',
      ].join('\n');
      writeFileSync(
        join(work, 'mpi.yaml'),
        `version: v1
services:
  ar:
    cwd: ${work}
    script: ${JSON.stringify(`${script}\n`)}
    multinode:
      nodes: 3
      implementation: ompi
    resource:
      cpu:
        cores: 1
      memory:
        size: 256MB
      devices:
        nvidia.com/gpu: 2
`,
      );
      const created = cli(state, ['cluster', 'create', '--nodes', '3', '--gpus-per-node', '2']);
      assert.equal(created.code, 0, created.out);
      const up = cli(state, ['up', join(work, 'mpi.yaml')]);
      assert.equal(up.code, 0, up.out);
      assert.match(up.out, /ar-0 \| RESULT ok sum=21 ranks=6/);
      const hosts = [...up.out.matchAll(/ar-0 \| RANK \d+ HOST (\S+)/g)].map((m) => m[1]);
      assert.equal(hosts.length, 6);
      assert.deepEqual([...new Set(hosts)].sort(), ['ar-0', 'ar-1', 'ar-2']);
      const rx = (when: string, h: string): number =>
        Number(new RegExp(`RX ${when} ${h} (\\d+)`).exec(up.out)?.[1] ?? NaN);
      for (const h of ['ar-0', 'ar-1', 'ar-2']) {
        const grown = (rx('after', h) - rx('before', h)) / 2 ** 20;
        assert.ok(grown > 8, `${h} received ${grown.toFixed(1)} MiB over the cluster network (want > 8)`);
      }
    } finally {
      cli(state, ['down', 'ar']);
      cli(state, ['cluster', 'delete', 'default']);
      rmSync(work, { recursive: true, force: true });
    }
  },
);
