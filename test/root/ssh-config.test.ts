/**
 * Plain ssh between ranks (seed 004): with `launch: all` (no leader, no MPI), `ssh <rank 0 host name>` and
 * `ssh <rank 0 address>` from rank 1 run on rank 0 without a prompt (generated ssh config, pinned host key),
 * with rank 0's environment; a session left running is stopped by `down`, which leaves nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  pidAlive,
  skipReason,
  snapshot,
} from './runtime-helpers.js';

const skip = skipReason(['/usr/sbin/sshd', 'ssh']);

function pidsRunning(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(marker))
        out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out.filter(pidAlive);
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test(
  'plain ssh from rank 1 to rank 0 by host name and address, in launch mode all',
  { skip, timeout: 240_000 },
  () => {
    const state = makeStateDir('sshcfg');
    const marker = `${process.pid}.25`;
    try {
      const file = join(state, 'sc.yaml');
      writeFileSync(
        file,
        `version: v1
services:
  sc:
    script: |
      #!/bin/sh
      if [ "$MULTINODE_NODE_RANK" = 1 ]; then
        h0=\${MULTINODE_HOSTLIST_NOSLOTS%%,*}
        echo "by name: $(ssh "$h0" hostname) rank $(ssh "$h0" 'echo $MULTINODE_NODE_RANK')"
        echo "by address: $(ssh "$MULTINODE_LEADER_IP" hostname 2>&1)"
        ssh "$h0" sleep ${marker} </dev/null >/dev/null 2>&1 &
        echo done
      fi
      exec sleep infinity
    multinode:
      nodes: 2
      launch: all
`,
      );
      assert.equal(cli(state, ['cluster', 'create', 'sc', '--nodes', '2']).code, 0);
      const up = cli(state, ['up', '-d', file], 200_000);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      let logs = '';
      for (let i = 0; i < 150 && !/done/.test(logs); i++) {
        pause(200);
        logs = cli(state, ['logs', 'sc']).stdout;
      }
      assert.match(logs, /by name: sc-0 rank 0/, logs);
      assert.match(logs, /by address: sc-0/, logs);
      for (let i = 0; i < 50 && pidsRunning(`sleep ${marker}`).length === 0; i++) pause(100);
      assert.notDeepEqual(pidsRunning(`sleep ${marker}`), [], 'the remote session runs on rank 0');
      const down = cli(state, ['down', 'sc']);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(pidsRunning(`sleep ${marker}`), [], 'down stops sessions started by plain ssh');
      assert.equal(cli(state, ['cluster', 'delete', 'sc']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['sc'], [['sc', 'sc']])), EMPTY_SNAPSHOT);
    } finally {
      cleanupStateDir(state);
    }
  },
);
